"""``create_app``: the Falcon ASGI app wired to one :class:`virtumancer.manager.Virtumancer`."""

from __future__ import annotations

import json
import logging
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Final

import falcon
import falcon.asgi

from virtumancer import Virtumancer
from virtumancer_server import console as console_module
from virtumancer_server import ws as ws_module
from virtumancer_server.auth import AuthMiddleware
from virtumancer_server.cache import ResponseCache
from virtumancer_server.config import ServerConfig
from virtumancer_server.demo import ensure_demo_host
from virtumancer_server.errors import install_error_handlers
from virtumancer_server.guard import HostOriginGuard
from virtumancer_server.inputs import PathParamsMiddleware
from virtumancer_server.metrics import LatencyMiddleware
from virtumancer_server.openapi import openapi_document
from virtumancer_server.resources._common import Json
from virtumancer_server.resources.endpoint import Context, Endpoint
from virtumancer_server.routes import API_PREFIX, routes_by_path
from virtumancer_server.upgrade import App

__all__ = ["API_PREFIX", "STATIC_DIR", "ServerConfig", "create_app"]

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"


class LifespanMiddleware:
    """Open the facade on startup and close it on shutdown (its background tasks with it).

    A facade passed in by the caller is the caller's to open and close.
    """

    def __init__(
        self, manager: Virtumancer, config: ServerConfig, cache: ResponseCache, *, owned: bool
    ) -> None:
        self._manager = manager
        self._config = config
        self._cache = cache
        self._owned = owned
        self._stack: AsyncExitStack | None = None

    async def process_startup(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        stack = AsyncExitStack()
        if self._owned:
            await stack.enter_async_context(self._manager)
        self._stack = stack
        subscription = await stack.enter_async_context(self._manager.subscribe_notifications())
        self._cache.attach(subscription)
        stack.callback(self._cache.detach)
        if self._config.demo:
            await ensure_demo_host(self._manager)
        logger.info("virtumancer server started")

    async def process_shutdown(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        logger.info("virtumancer server stopped")


class BodyLimitMiddleware:
    """Refuse any request whose declared body is larger than the configured limit (413)."""

    def __init__(self, max_body_bytes: int) -> None:
        self._max = max_body_bytes

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if req.content_length is not None and req.content_length > self._max:
            raise falcon.HTTPContentTooLarge(
                title="Payload Too Large",
                description=f"the request body exceeds {self._max} bytes",
            )


class IndexResource:
    """``/``: the dashboard page (``static/index.html``, written by the page's owner)."""

    def __init__(self, static_dir: Path) -> None:
        self._index = static_dir / "index.html"

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if not self._index.is_file():
            raise falcon.HTTPNotFound(description="the dashboard page is not installed")
        resp.content_type = falcon.MEDIA_HTML
        resp.cache_control = ["no-cache"]
        resp.data = self._index.read_bytes()


def _docs_page() -> bytes:
    # The interactive reference: vendored Swagger UI (no CDN), reading the served document.
    return (STATIC_DIR / "docs.html").read_bytes()


def _add_routes(
    app: falcon.asgi.App[Any, Any],
    manager: Virtumancer,
    config: ServerConfig,
    cache: ResponseCache,
) -> None:
    """Register every route of the table (the one place routes are added)."""
    documents = {
        "get_openapi_document": json.dumps(openapi_document(), separators=(",", ":")).encode(),
        "get_api_reference": _docs_page(),
    }
    ctx = Context(manager=manager, json=Json(), cache=cache, config=config, documents=documents)
    special: dict[str, object] = {
        **console_module.resources(manager, config),
        "ws": ws_module.WebSocketResource(manager, config),
    }
    for template, rows in routes_by_path().items():
        names = {row.resource for row in rows}
        if len(names) != 1:
            raise ValueError(f"{template}: one resource per path, got {sorted(names)}")
        (name,) = names
        app.add_route(template, Endpoint(ctx, rows) if name == "api" else special[name])


def create_app(
    config: ServerConfig, manager: Virtumancer | None = None
) -> falcon.asgi.App[Any, Any]:
    """Build the ASGI app serving ``/api/v1``, ``/ws``, the consoles and the dashboard page.

    Without ``manager`` the app makes its own :class:`Virtumancer` from ``config`` and opens
    it in the ASGI lifespan startup (closing it on shutdown). A ``manager`` passed in must
    already be open; the caller closes it.
    """
    owned = manager is None
    if manager is None:
        manager = Virtumancer(
            config.database_url,
            uri_policy=config.uri_policy(),
            stats_interval=config.stats_interval,
            replica_id=config.replica_id,
            replica_address=f"{config.host}:{config.port}",
        )
    cache = ResponseCache()
    middleware: list[Any] = [
        LatencyMiddleware(),
        LifespanMiddleware(manager, config, cache, owned=owned),
        BodyLimitMiddleware(config.max_body_bytes),
        AuthMiddleware(config, manager),
        HostOriginGuard(config),
        PathParamsMiddleware(),
    ]
    app: falcon.asgi.App[Any, Any] = App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handlers(app)
    _add_routes(app, manager, config, cache)

    app.add_route("/", IndexResource(STATIC_DIR))
    app.add_static_route("/static", STATIC_DIR)
    return app
