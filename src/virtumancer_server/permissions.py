"""The one table of who may call what: the least role each route and method needs.

``viewer`` reads (GET/HEAD, the ``/ws`` feed with live stats); ``operator`` also acts on VMs
(power actions, consoles and their tickets, imports, dismissing discovered VMs); ``admin``
also manages hosts, settings and tokens. ``WEBSOCKET`` stands for a WebSocket upgrade. A
route or method missing here needs ``admin`` (closed by default); a test checks that every
route of the OpenAPI document is listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from virtumancer import Role

__all__ = ["ROUTE_ROLES", "WEBSOCKET", "required_role"]

WEBSOCKET: Final = "WEBSOCKET"

_P: Final = "/api/v1"
_VM: Final = f"{_P}/hosts/{{host_id}}/vms/{{vm_name}}"
_V, _O, _A = Role.VIEWER, Role.OPERATOR, Role.ADMIN
_READ: Final = {"GET": _V}

#: route template -> method -> the least role allowed. HEAD needs what GET needs.
ROUTE_ROLES: Final[Mapping[str, Mapping[str, Role]]] = {
    # hosts: reading is for everyone, changing them is admin work
    f"{_P}/hosts": {"GET": _V, "POST": _A},
    f"{_P}/hosts/{{host_id}}": {"DELETE": _A},
    f"{_P}/hosts/{{host_id}}/connect": {"POST": _A},
    f"{_P}/hosts/{{host_id}}/disconnect": {"POST": _A},
    f"{_P}/hosts/{{host_id}}/info": _READ,
    # VMs: power, imports and consoles are operator work
    f"{_P}/hosts/{{host_id}}/vms": _READ,
    f"{_VM}/hardware": _READ,
    f"{_VM}/action": {"POST": _O},
    f"{_P}/hosts/{{host_id}}/discovered-vms": {"GET": _V, "DELETE": _O},
    f"{_VM}/import": {"POST": _O},
    f"{_P}/hosts/{{host_id}}/vms/import-all": {"POST": _O},
    f"{_P}/hosts/{{host_id}}/vms/import-selected": {"POST": _O},
    f"{_VM}/console-ticket": {"POST": _O},
    f"{_VM}/console": {"GET": _V, WEBSOCKET: _O},
    f"{_VM}/spice": {"GET": _V, WEBSOCKET: _O},
    # inventory
    f"{_P}/storage/pools": _READ,
    f"{_P}/storage/volumes": _READ,
    f"{_P}/storage/disk-attachments": _READ,
    f"{_P}/hosts/{{host_id}}/storage/pools": _READ,
    f"{_P}/hosts/{{host_id}}/storage/volumes": _READ,
    f"{_P}/networks": _READ,
    f"{_P}/ports": _READ,
    f"{_P}/port-attachments": _READ,
    f"{_P}/hosts/{{host_id}}/networks": _READ,
    f"{_P}/hosts/{{host_id}}/ports": _READ,
    f"{_VM}/port-attachments": _READ,
    f"{_P}/video/models": _READ,
    f"{_P}/hosts/{{host_id}}/video/devices": _READ,
    f"{_VM}/video-attachments": _READ,
    # dashboard, settings, service
    f"{_P}/dashboard/stats": _READ,
    f"{_P}/dashboard/activity": _READ,
    f"{_P}/dashboard/overview": _READ,
    f"{_P}/topology": _READ,
    f"{_P}/settings/metrics": {"GET": _V, "PUT": _A},
    f"{_P}/settings/metrics/runtime": _READ,
    f"{_P}/session": {"POST": _V, "DELETE": _V},
    f"{_P}/openapi.json": _READ,
    f"{_P}/tokens": {"GET": _A, "POST": _A},
    f"{_P}/tokens/{{token_id}}": {"DELETE": _A},
    "/ws": {WEBSOCKET: _V},
}


def required_role(method: str, uri_template: str) -> Role:
    """Return the least role allowed to call ``method uri_template`` (``admin`` if unlisted)."""
    methods = ROUTE_ROLES.get(uri_template)
    if methods is None:
        return _A
    if method == "HEAD":
        method = "GET"
    return methods.get(method, _A)
