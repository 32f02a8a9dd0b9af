"""Dashboard, metrics settings, health and the browser session cookie."""

from __future__ import annotations

import falcon
import falcon.asgi

from virtumancer import InvalidInputError, Virtumancer
from virtumancer_server.auth import SESSION_COOKIE, session_value
from virtumancer_server.config import ServerConfig
from virtumancer_server.resources._common import Json, read_json_object

__all__ = [
    "ActivityResource",
    "DashboardStatsResource",
    "HealthResource",
    "MetricsSettingsResource",
    "OverviewResource",
    "RuntimeMetricsSettingsResource",
    "SessionResource",
    "TopologyResource",
    "parse_limit",
]

Request = falcon.asgi.Request
Response = falcon.asgi.Response

MAX_ACTIVITY_LIMIT = 1000
_HEALTH_BODY = b'{"ok":true}'


def parse_limit(req: Request, default: int = 10) -> int:
    """Return the ``limit`` query parameter (1..1000, default 10); else 400 naming it."""
    values = req.get_param_as_list("limit")
    if values is None:
        return default
    if len(values) != 1:
        raise InvalidInputError("limit must be given once", field="limit")
    raw = values[0]
    # The length check comes first: int() refuses (ValueError) beyond 4,300 digits.
    if (
        len(raw) > len(str(MAX_ACTIVITY_LIMIT))
        or not raw.isascii()
        or not raw.isdigit()
        or not 1 <= int(raw) <= MAX_ACTIVITY_LIMIT
    ):
        raise InvalidInputError(
            f"limit must be an integer from 1 to {MAX_ACTIVITY_LIMIT}", field="limit"
        )
    return int(raw)


class _Resource:
    def __init__(self, manager: Virtumancer, json: Json) -> None:
        self._vm = manager
        self._json = json


class DashboardStatsResource(_Resource):
    """``/api/v1/dashboard/stats``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.dashboard_stats())


class ActivityResource(_Resource):
    """``/api/v1/dashboard/activity?limit=N``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.recent_activity(parse_limit(req)))


class OverviewResource(_Resource):
    """``/api/v1/dashboard/overview?limit=N``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.dashboard_overview(parse_limit(req)))


class TopologyResource(_Resource):
    """``/api/v1/topology``: the placed network picture the browser draws as it is."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.topology())


class MetricsSettingsResource(_Resource):
    """``/api/v1/settings/metrics``: GET, and PUT that merges and returns the result."""

    def __init__(self, manager: Virtumancer, json: Json, max_body_bytes: int) -> None:
        super().__init__(manager, json)
        self._max_body = max_body_bytes

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.get_metrics_settings())

    async def on_put(self, req: Request, resp: Response) -> None:
        changes = await read_json_object(req, self._max_body)
        self._json.send(resp, await self._vm.update_metrics_settings(changes))


class RuntimeMetricsSettingsResource(_Resource):
    """``/api/v1/settings/metrics/runtime``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.runtime_metrics_settings())


class HealthResource:
    """``/api/v1/health``: always ``{"ok": true}`` while the process serves requests."""

    async def on_get(self, req: Request, resp: Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _HEALTH_BODY

    async def on_head(self, req: Request, resp: Response) -> None:
        # Uptime probes often send HEAD (``curl -I``): same status, no body.
        resp.content_type = falcon.MEDIA_JSON
        resp.content_length = len(_HEALTH_BODY)


class SessionResource:
    """``/api/v1/session``: trade the Bearer token for a session cookie (for WebSockets)."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config

    async def on_post(self, req: Request, resp: Response) -> None:
        principal = req.context.get("principal")
        if self._config.token is not None and principal is not None:
            # The cookie names the token (its id), so WebSockets know its role.
            resp.set_cookie(
                SESSION_COOKIE,
                session_value(self._config.token, principal.subject),
                path="/",
                secure=req.scheme == "https",
                http_only=True,
                same_site="Strict",
            )
        resp.status = falcon.HTTP_204

    async def on_delete(self, req: Request, resp: Response) -> None:
        resp.unset_cookie(SESSION_COOKIE, path="/", same_site="Strict")
        resp.status = falcon.HTTP_204
