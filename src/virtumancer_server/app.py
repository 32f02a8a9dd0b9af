"""``create_app``: the Falcon ASGI app wired to one :class:`virtumancer.manager.Virtumancer`."""

from __future__ import annotations

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
from virtumancer_server.openapi import OpenApiResource
from virtumancer_server.resources import dashboard, hosts, inventory, tokens
from virtumancer_server.resources._common import Json

__all__ = ["API_PREFIX", "STATIC_DIR", "ServerConfig", "create_app"]

logger = logging.getLogger(__name__)

API_PREFIX: Final = "/api/v1"
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


def _add_api_routes(
    app: falcon.asgi.App[Any, Any],
    manager: Virtumancer,
    config: ServerConfig,
    json: Json,
    cache: ResponseCache,
) -> None:
    limit = config.max_body_bytes
    p = API_PREFIX
    routes: list[tuple[str, object]] = [
        # hosts and VMs
        (f"{p}/hosts", hosts.HostsResource(manager, json, limit)),
        (f"{p}/hosts/{{host_id}}", hosts.HostResource(manager, json, limit)),
        (f"{p}/hosts/{{host_id}}/connect", hosts.HostConnectResource(manager, json, limit)),
        (f"{p}/hosts/{{host_id}}/disconnect", hosts.HostDisconnectResource(manager, json, limit)),
        (f"{p}/hosts/{{host_id}}/info", hosts.HostInfoResource(manager, json, limit)),
        (f"{p}/hosts/{{host_id}}/vms", hosts.VmsResource(manager, json, limit, cache)),
        (
            f"{p}/hosts/{{host_id}}/vms/{{vm_name}}/hardware",
            hosts.VmHardwareResource(manager, json, limit),
        ),
        (
            f"{p}/hosts/{{host_id}}/vms/{{vm_name}}/action",
            hosts.VmActionResource(manager, json, limit),
        ),
        # discovered VMs
        (
            f"{p}/hosts/{{host_id}}/discovered-vms",
            hosts.DiscoveredVmsResource(manager, json, limit),
        ),
        (
            f"{p}/hosts/{{host_id}}/vms/{{vm_name}}/import",
            hosts.ImportVmResource(manager, json, limit),
        ),
        (f"{p}/hosts/{{host_id}}/vms/import-all", hosts.ImportAllResource(manager, json, limit)),
        (
            f"{p}/hosts/{{host_id}}/vms/import-selected",
            hosts.ImportSelectedResource(manager, json, limit),
        ),
        # storage
        (f"{p}/storage/pools", inventory.StoragePoolsResource(manager, json)),
        (f"{p}/storage/volumes", inventory.StorageVolumesResource(manager, json)),
        (f"{p}/storage/disk-attachments", inventory.DiskAttachmentsResource(manager, json)),
        (f"{p}/hosts/{{host_id}}/storage/pools", inventory.HostStoragePoolsResource(manager, json)),
        (
            f"{p}/hosts/{{host_id}}/storage/volumes",
            inventory.HostStorageVolumesResource(manager, json),
        ),
        # network
        (f"{p}/networks", inventory.NetworksResource(manager, json)),
        (f"{p}/ports", inventory.PortsResource(manager, json)),
        (f"{p}/port-attachments", inventory.PortAttachmentsResource(manager, json)),
        (f"{p}/hosts/{{host_id}}/networks", inventory.HostNetworksResource(manager, json)),
        (f"{p}/hosts/{{host_id}}/ports", inventory.HostPortsResource(manager, json)),
        (
            f"{p}/hosts/{{host_id}}/vms/{{vm_name}}/port-attachments",
            inventory.VmPortAttachmentsResource(manager, json),
        ),
        # video
        (f"{p}/video/models", inventory.VideoModelsResource(manager, json)),
        (
            f"{p}/hosts/{{host_id}}/video/devices",
            inventory.HostVideoDevicesResource(manager, json),
        ),
        (
            f"{p}/hosts/{{host_id}}/vms/{{vm_name}}/video-attachments",
            inventory.VmVideoAttachmentsResource(manager, json),
        ),
        # dashboard and settings
        (f"{p}/dashboard/stats", dashboard.DashboardStatsResource(manager, json)),
        (f"{p}/dashboard/activity", dashboard.ActivityResource(manager, json)),
        (f"{p}/dashboard/overview", dashboard.OverviewResource(manager, json)),
        (f"{p}/topology", dashboard.TopologyResource(manager, json)),
        (f"{p}/settings/metrics", dashboard.MetricsSettingsResource(manager, json, limit)),
        (f"{p}/settings/metrics/runtime", dashboard.RuntimeMetricsSettingsResource(manager, json)),
        # service
        (f"{p}/health", dashboard.HealthResource()),
        (f"{p}/session", dashboard.SessionResource(config)),
        (f"{p}/openapi.json", OpenApiResource()),
        # API tokens (admin only: see permissions.ROUTE_ROLES)
        (f"{p}/tokens", tokens.TokensResource(manager, json, limit)),
        (f"{p}/tokens/{{token_id}}", tokens.TokenResource(manager)),
    ]
    for template, resource in routes:
        app.add_route(template, resource)


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
        )
    cache = ResponseCache()
    middleware: list[Any] = [
        LifespanMiddleware(manager, config, cache, owned=owned),
        BodyLimitMiddleware(config.max_body_bytes),
        AuthMiddleware(config, manager),
        HostOriginGuard(config),
        PathParamsMiddleware(),
    ]
    app: falcon.asgi.App[Any, Any] = falcon.asgi.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handlers(app)
    _add_api_routes(app, manager, config, Json(), cache)

    ws_module.add_routes(app, manager, config)
    console_module.add_routes(app, manager, config)

    app.add_route("/", IndexResource(STATIC_DIR))
    app.add_static_route("/static", STATIC_DIR)
    return app
