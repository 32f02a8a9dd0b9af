"""Who may call what: the least role of each route and method, read from the route table.

``viewer`` reads (GET/HEAD, the ``/ws`` feed with live stats); ``operator`` also acts on VMs
(power actions, consoles and their tickets, imports, dismissing discovered VMs); ``admin``
also manages hosts, settings and tokens. ``WEBSOCKET`` stands for a WebSocket upgrade. The
roles are the ``role`` column of :data:`virtumancer_server.routes.ROUTES`; a route or method
missing there needs ``admin`` (closed by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from virtumancer import Role
from virtumancer_server.routes import ROUTES, WEBSOCKET

__all__ = ["ROUTE_ROLES", "WEBSOCKET", "required_role"]


def _roles() -> dict[str, dict[str, Role]]:
    table: dict[str, dict[str, Role]] = {}
    for route in ROUTES:
        table.setdefault(route.template, {})[route.method] = route.role
    return table


#: route template -> method -> the least role allowed. HEAD needs what GET needs.
ROUTE_ROLES: Final[Mapping[str, Mapping[str, Role]]] = _roles()


def required_role(method: str, uri_template: str) -> Role:
    """Return the least role allowed to call ``method uri_template`` (``admin`` if unlisted)."""
    methods = ROUTE_ROLES.get(uri_template)
    if methods is None:
        return Role.ADMIN
    if method == "HEAD":
        method = "GET"
    return methods.get(method, Role.ADMIN)
