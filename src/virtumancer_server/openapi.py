"""The OpenAPI 3.1 document, generated from the route table and the attrs models.

Paths and operations come from :data:`virtumancer_server.routes.ROUTES` (one operation per
row, its ``operationId``, summary, role and statuses); schemas from the rows' request and
response types through :class:`virtumancer_server.schema.SchemaBuilder`; enums from the Python
enums. The few bodies that are not attrs models (host info, the WebSocket messages, the
console ticket) are described here. Served at ``/api/v1/openapi.json``;
``tests/server/test_openapi.py`` and ``test_schemathesis.py`` keep it true.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

import virtumancer
from virtumancer import WS_MEMORY_UNIT, ConsoleKind, PowerAction, Role
from virtumancer_server.resources.endpoint import MAX_ACTIVITY_LIMIT
from virtumancer_server.routes import API_PREFIX, ROUTES, WEBSOCKET, Route
from virtumancer_server.schema import Schema, SchemaBuilder, ref

__all__ = ["openapi_document"]

_ERROR_STATUSES: Final = {
    400: "Invalid input (the body's `error.field` is the JSON path of the bad value)",
    401: "Missing, invalid, expired or revoked Bearer token",
    403: "The token's role is below what the route needs (the message names the role)",
    404: "Unknown host, VM or route",
    409: "The object's state does not allow the request",
    413: "Request body too large",
    415: "Request body is not application/json",
    426: "A WebSocket endpoint: upgrade the connection",
    500: "The host could not be connected (add/connect), or an internal error",
    503: "The host is unreachable",
}
_FLAG: Final = {"type": "boolean", "default": False}
#: Query parameters that are not true/false flags (``limit`` has its own entry).
_QUERY_SCHEMAS: Final[dict[str, Schema]] = {
    "scope": {"type": "string", "enum": ["live", "config", "both"]},
}
_OK: Final = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}

_INT: Final[Schema] = {"type": "integer"}
_STR: Final[Schema] = {"type": "string"}
_KIB: Final[Schema] = {"type": "integer", "x-unit": WS_MEMORY_UNIT}


def _object(props: dict[str, Schema], *, optional: tuple[str, ...] = (), **extra: Any) -> Schema:
    required = [name for name in props if name not in optional]
    return {"type": "object", "required": required, "properties": props, **extra}


def _message(kind: str, payload: Schema, description: str) -> Schema:
    return _object({"type": {"const": kind}, "payload": payload}, description=description)


def _hand_written(builder: SchemaBuilder) -> dict[str, Schema]:
    """Bodies that are not attrs models: built by ``converters`` or by the server."""
    vm_key = {"hostId": _STR, "vmName": _STR}
    stats = _object(
        {
            "state": _INT,
            "memory": {**_KIB, "description": f"Current memory, in {WS_MEMORY_UNIT}"},
            "max_mem": {**_KIB, "description": f"Maximum memory, in {WS_MEMORY_UNIT}"},
            "vcpu": _INT,
            "cpu_time": {**_INT, "x-unit": "ns"},
            "disk_stats": {"type": "array", "items": {"type": "object"}},
            "net_stats": {"type": "array", "items": {"type": "object"}},
            "rates": {"type": ["object", "null"]},
        },
        description="One stats sample (WebSocket units: memory in KiB, CPU time in ns)",
    )
    return {
        "Error": _object(
            {
                "error": _object(
                    {"code": _STR, "message": _STR, "field": {"type": ["string", "null"]}}
                )
            }
        ),
        "HostInfo": _object(
            {
                "hostname": _STR,
                "cpu": _INT,
                "memory": {**_INT, "x-unit": "bytes", "description": "Host memory, in bytes"},
                "cores": _INT,
                "threads": _INT,
                "sockets": _INT,
                "nodes": _INT,
                "mhz": _INT,
                "cpu_model": _STR,
                "arch": _STR,
                "libvirt_version": _STR,
                "hypervisor_type": _STR,
                "hypervisor_version": _STR,
            },
            optional=(
                "sockets",
                "nodes",
                "mhz",
                "cpu_model",
                "arch",
                "libvirt_version",
                "hypervisor_type",
                "hypervisor_version",
            ),
        ),
        "Health": _object({"ok": {"type": "boolean", "const": True}}),
        "ConsoleTicket": _object(
            {
                "ticket": _STR,
                "expires_at": {"type": "string", "format": "date-time"},
                "kind": builder.enum(ConsoleKind),
            },
            description="Pass as `?ticket=` on one console upgrade of the same VM",
        ),
        "VmStats": stats,
        "WsClientMessage": {
            "oneOf": [
                _message("subscribe-vm-stats", _object(vm_key), "Start live stats for a VM"),
                _message("unsubscribe-vm-stats", _object(vm_key), "Stop live stats for a VM"),
            ],
            "description": "What a client sends on /ws (JSON text frames)",
        },
        "WsServerMessage": {
            "oneOf": [
                _message("hosts-changed", {"type": "null"}, "The host list changed"),
                _message("vms-changed", _object({"hostId": _STR}), "A host's VMs changed"),
                _message(
                    "vm-stats-updated",
                    _object({**vm_key, "stats": ref("VmStats")}),
                    "A new stats sample of a subscribed VM",
                ),
                _message(
                    "error",
                    _object(
                        {"code": _STR, "message": _STR, "field": _STR, **vm_key},
                        optional=("field", "hostId", "vmName"),
                    ),
                    "A message could not be acted on; `code` is the library error's code",
                ),
            ],
            "description": "What the server sends on /ws (JSON text frames)",
        },
    }


def _response_schema(builder: SchemaBuilder, response: Any) -> Schema:
    if isinstance(response, str):
        return {"type": "object"} if response in {"Document", "Page", "Metrics"} else ref(response)
    return builder.of(response)


def _operation(builder: SchemaBuilder, route: Route, websocket: Route | None) -> Schema:
    responses: dict[str, Schema] = {}
    if route.status in _OK:
        ok: Schema = {"description": _OK[route.status]}
        if route.response is not None and route.media_type == "application/json":
            ok["content"] = {
                "application/json": {"schema": _response_schema(builder, route.response)}
            }
        elif route.media_type != "application/json":
            ok["content"] = {route.media_type: {"schema": {"type": "string"}}}
        responses[str(route.status)] = ok
    codes = set(route.errors)
    if route.status == 426:
        codes.add(426)
    if route.request is not None:
        codes |= {400, 413, 415}
    if route.query:
        codes.add(400)
    if "{" in route.path:
        codes |= {400, 404}  # control characters in a path parameter; unknown object
    if not route.public:
        codes |= {401, 403}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERROR_STATUSES[code],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    if route.operation_id == "get_readiness":
        # Not ready is not an error of the request: the 503 body is the 200 one (what is
        # missing), which is what probes and people read.
        responses["503"] = {
            "description": "Not ready",
            "content": {"application/json": {"schema": _response_schema(builder, route.response)}},
        }
    operation: Schema = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": responses,
        "x-required-role": route.role.value,
    }
    if route.call is not None:
        operation["x-library-method"] = route.call
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _STR}
        for name in _path_params(route.path)
    ]
    if "limit" in route.query:
        parameters.append(
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_ACTIVITY_LIMIT,
                    "default": 10,
                },
            }
        )
    parameters.extend(
        {"name": name, "in": "query", "required": False, "schema": _QUERY_SCHEMAS.get(name, _FLAG)}
        for name in route.query
        if name != "limit"
    )
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": builder.of(route.request)}},
        }
    if route.public:
        operation["security"] = []
    if websocket is not None:
        operation["description"] = _websocket_description(route, websocket)
        operation["x-websocket"] = {
            "requiredRole": websocket.role.value,
            **(
                {"clientMessages": ref("WsClientMessage"), "serverMessages": ref("WsServerMessage")}
                if route.path == "/ws"
                else {"frames": "binary (RFB or SPICE), both ways; subprotocol `binary`"}
            ),
        }
    return operation


def _websocket_description(route: Route, websocket: Route) -> str:
    auth = (
        "Credentials: `Authorization: Bearer`, a `token` query parameter or the session "
        "cookie (`POST /session`)"
    )
    if route.path != "/ws":
        auth += ", or a `ticket` from `console-ticket`"
    return (
        f"Open with a WebSocket upgrade (role `{websocket.role}`); a plain GET answers 426. "
        f"{auth}. A refused upgrade is a real HTTP response (401, 403, 404, 409, 503) with the "
        "JSON error body."
        + (
            " Messages are JSON text frames `{type, payload}`: see `WsClientMessage` and "
            "`WsServerMessage`."
            if route.path == "/ws"
            else ""
        )
    )


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document (paths relative to the ``/api/v1`` server)."""
    builder = SchemaBuilder()
    # The enums the API takes, even where a type names them only as text.
    for enum_type in (PowerAction, Role):
        builder.enum(enum_type)
    extra = _hand_written(builder)
    paths: dict[str, Schema] = {}
    upgrades = {route.path: route for route in ROUTES if route.method == WEBSOCKET}
    for route in ROUTES:
        if route.method == WEBSOCKET:
            continue
        item = paths.setdefault(route.path, {})
        if route.template == route.path:
            item["servers"] = [{"url": "/", "description": "outside /api/v1"}]
        item[route.method.lower()] = _operation(builder, route, upgrades.get(route.path))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Virtumancer API",
            "version": virtumancer.__version__,
            "description": (
                "Manage libvirt/KVM hosts and their VMs. Sizes in REST bodies are bytes "
                f"(`*_bytes`, `memory_bytes`); the `/ws` stats messages give memory in "
                f"{WS_MEMORY_UNIT}. Each operation's `x-required-role` is the least token "
                "role it needs."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {**builder.components, **extra},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
