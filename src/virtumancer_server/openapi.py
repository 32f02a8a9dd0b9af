"""The OpenAPI 3.1 document of every REST route, served at ``/api/v1/openapi.json``.

Built from small helpers rather than a static file so schemas and routes stay side by side;
``tests/server/test_schemathesis.py`` keeps it true against the running app.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Final

import falcon
import falcon.asgi

import virtumancer
from virtumancer import Role, StatusCategory
from virtumancer_server.resources.hosts import HOST_ID_PATTERN

__all__ = ["OpenApiResource", "openapi_document"]

Schema = dict[str, Any]

_ERROR_STATUSES: Final = {
    "400": "Invalid input (the body's `error.field` names it)",
    "401": "Missing, invalid, expired or revoked Bearer token",
    "403": "The token's role is below what the route needs (the message names the role)",
    "404": "Unknown host, VM or route",
    "409": "The object's state does not allow the request",
    "413": "Request body too large",
    "415": "Request body is not application/json",
    "500": "The host could not be connected (add/connect), or an internal error",
    "503": "The host is unreachable",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


_STR: Final[Schema] = {"type": "string"}
_INT: Final[Schema] = {"type": "integer"}
_BOOL: Final[Schema] = {"type": "boolean"}
_TIME: Final[Schema] = {"type": "string", "format": "date-time"}


def _schemas() -> dict[str, Schema]:
    disk = _object(
        {
            "type": _STR,
            "device": _STR,
            "driver": _object(
                {}, {"driver_name": _nullable("string"), "type": _nullable("string")}
            ),
            "path": _nullable("string"),
            "target": _object({}, {"dev": _nullable("string"), "bus": _nullable("string")}),
            "size_bytes": _nullable("integer"),
        }
    )
    nic = _object(
        {
            "type": _STR,
            "mac": _object({}, {"address": _nullable("string")}),
            "source": _object(
                {},
                {
                    "network": _nullable("string"),
                    "bridge": _nullable("string"),
                    "portgroup": _nullable("string"),
                },
            ),
            "model": _object({}, {"model_type": _nullable("string")}),
        }
    )
    objects: Schema = {"type": "array", "items": {"type": "object"}}
    settings_props: dict[str, Schema] = {
        "cpu_smoothing_window": {"type": "integer", "minimum": 1, "maximum": 300},
        "memory_display_unit": {
            "type": "string",
            "enum": ["B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"],
        },
        "default_cpu_view": {"type": "string", "enum": ["percentage", "cores", "time"]},
        "stats_interval_seconds": {"type": "number", "minimum": 0.5, "maximum": 3600},
    }
    _nullable_time: Schema = {"type": ["string", "null"], "format": "date-time"}
    token_fields: dict[str, Schema] = {
        "id": _STR,
        "name": _STR,
        "role": {"type": "string", "enum": [role.value for role in Role]},
        "created_at": _TIME,
        "expires_at": _nullable_time,
    }
    activity = _object(
        {
            "id": _INT,
            "timestamp": _TIME,
            "type": _STR,
            "message": _STR,
            "host_id": _nullable("string"),
            "vm_name": _nullable("string"),
        },
        {"actor": _nullable("string")},
    )
    status: Schema = {"type": "string", "enum": [c.value for c in StatusCategory]}
    number: Schema = {"type": "number"}
    node = _object(
        {
            "id": _STR,
            "host_id": _STR,
            "label": _STR,
            "status": status,
            "color": _STR,
            "x": number,
            "y": number,
            "r": number,
            "label_x": number,
            "label_y": number,
            "label_anchor": {"type": "string", "enum": ["start", "middle", "end"]},
        }
    )
    counts = _object({"total": _INT, **{c.value: _INT for c in StatusCategory}})
    stats = _object(
        {
            "total_hosts": _INT,
            "connected_hosts": _INT,
            "total_vms": _INT,
            "active_vms": _INT,
            "total_storage_gb": _INT,
            "used_storage_gb": _INT,
        }
    )
    return {
        "Topology": _object(
            {
                "width": number,
                "height": number,
                "hosts": {"type": "array", "items": node},
                "vms": {"type": "array", "items": node},
                "links": {
                    "type": "array",
                    "items": _object({"source": _STR, "target": _STR}),
                },
                "summary": _object({"hosts": counts, "vms": counts}),
                "legend": {
                    "type": "array",
                    "items": _object({"status": status, "label": _STR, "color": _STR}),
                },
            }
        ),
        "Error": _object(
            {
                "error": _object(
                    {"code": _STR, "message": _STR, "field": _nullable("string")},
                )
            }
        ),
        "Host": _object(
            {
                "id": _STR,
                "uri": _STR,
                "state": {
                    "type": "string",
                    "enum": ["CONNECTED", "DISCONNECTED", "CONNECTING", "ERROR"],
                },
                "auto_reconnect_disabled": _BOOL,
                "created_at": _TIME,
                "status": status,
            },
            {"last_error": _nullable("string")},
        ),
        "NewHost": {
            **_object(
                {
                    "id": {"type": "string", "pattern": HOST_ID_PATTERN},
                    "uri": {"type": "string", "minLength": 1},
                }
            ),
            "additionalProperties": False,
        },
        "HostInfo": _object(
            {"hostname": _STR, "cpu": _INT, "memory": _INT, "cores": _INT, "threads": _INT},
            {
                "sockets": _INT,
                "nodes": _INT,
                "mhz": _INT,
                "cpu_model": _STR,
                "arch": _STR,
                "libvirt_version": _STR,
                "hypervisor_type": _STR,
                "hypervisor_version": _STR,
            },
        ),
        "Vm": _object(
            {
                "db_id": _INT,
                "name": _STR,
                "description": _STR,
                "vcpu_count": _INT,
                "memory_bytes": _INT,
                "state": _INT,
                "status": status,
                "graphics": _object({"vnc": _BOOL, "spice": _BOOL}),
                "created_at": _TIME,
                "updated_at": _TIME,
            },
            {"host_id": _STR, "uuid": _STR},
        ),
        "Hardware": _object(
            {
                "disks": {"type": "array", "items": disk},
                "networks": {"type": "array", "items": nic},
            },
            {"graphics": objects, "videos": objects, "hostdevs": objects, "controllers": objects},
        ),
        "Action": {
            **_object(
                {
                    "action": {
                        "type": "string",
                        "enum": ["start", "shutdown", "reboot", "destroy", "reset"],
                    }
                }
            ),
            "additionalProperties": False,
        },
        "DomainUuids": {
            **_object({"domain_uuids": {"type": "array", "items": _STR}}),
            "additionalProperties": False,
        },
        "DiscoveredVm": _object(
            {
                "domain_uuid": _STR,
                "name": _STR,
                "host_id": _STR,
                "last_seen_at": _TIME,
                "imported": _BOOL,
            }
        ),
        "StoragePool": _object(
            {
                "id": _STR,
                "host_id": _STR,
                "name": _STR,
                "type": _STR,
                "path": _nullable("string"),
                "capacity_bytes": _INT,
                "allocation_bytes": _INT,
            },
            {"available_bytes": _INT, "state": _nullable("string")},
        ),
        "StorageVolume": _object(
            {
                "id": _STR,
                "storage_pool_id": _STR,
                "name": _STR,
                "type": _STR,
                "format": _nullable("string"),
                "capacity_bytes": _INT,
                "allocation_bytes": _INT,
            },
            {"path": _nullable("string"), "host_id": _STR},
        ),
        "DiskAttachment": _object(
            {
                "id": _STR,
                "vm_uuid": _STR,
                "disk_id": _STR,
                "device_name": _STR,
                "bus_type": _nullable("string"),
                "size_bytes": _nullable("integer"),
            },
            {"path": _nullable("string"), "host_id": _STR},
        ),
        "Network": _object(
            {
                "id": _STR,
                "host_id": _STR,
                "name": _STR,
                "uuid": _STR,
                "bridge_name": _nullable("string"),
                "mode": _STR,
            }
        ),
        "Port": _object(
            {"id": _STR, "mac_address": _STR, "model_name": _nullable("string"), "host_id": _STR}
        ),
        "HostPort": _object(
            {
                "id": _STR,
                "vm_uuid": _STR,
                "port_id": _STR,
                "device_name": _STR,
                "mac_address": _STR,
            }
        ),
        "PortAttachment": _object(
            {"id": _STR, "vm_uuid": _STR, "port_id": _STR, "device_name": _STR}
        ),
        "VideoModel": _object(
            {
                "id": _INT,
                "model_name": _STR,
                "vram": _nullable("integer"),
                "heads": _nullable("integer"),
                "accel_3d": _BOOL,
            }
        ),
        "HostVideoDevice": _object(
            {
                "id": _INT,
                "host_device_id": _INT,
                "vendor": _nullable("string"),
                "model_name": _nullable("string"),
                "uuid": _STR,
            },
            {"host_id": _STR},
        ),
        "VideoAttachment": _object(
            {
                "id": _INT,
                "vm_uuid": _STR,
                "video_model_id": _INT,
                "monitor_index": _INT,
                "primary": _BOOL,
            }
        ),
        "ActivityEvent": activity,
        "DashboardStats": stats,
        "DashboardOverview": _object(
            {
                "stats": _ref("DashboardStats"),
                "recent_activity": {"type": "array", "items": _ref("ActivityEvent")},
            }
        ),
        "MetricsSettings": _object(dict(settings_props)),
        "MetricsSettingsChanges": {
            "type": "object",
            "properties": settings_props,
            "additionalProperties": False,
        },
        "Health": _object({"ok": {"type": "boolean", "const": True}}),
        "Token": _object(
            token_fields, {"last_used_at": _nullable_time, "revoked_at": _nullable_time}
        ),
        "CreatedToken": _object({**token_fields, "secret": _STR}),
        "NewToken": {
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
                "role": {"type": "string", "enum": [role.value for role in Role]},
                "expires_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
    }


_HOST_ID: Final = {"name": "host_id", "in": "path", "required": True, "schema": _STR}
_VM_NAME: Final = {"name": "vm_name", "in": "path", "required": True, "schema": _STR}
_LIMIT: Final = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
}


def _op(
    summary: str,
    *,
    ok: str | None = "200",
    schema: Schema | None = None,
    body: str | None = None,
    errors: tuple[str, ...] = ("401",),
    params: tuple[Schema, ...] = (),
    public: bool = False,
    tag: str = "",
) -> Schema:
    responses: dict[str, Schema] = {}
    if ok is not None:
        description = {"200": "OK", "201": "Created", "202": "Accepted", "204": "No Content"}[ok]
        responses[ok] = (
            {"description": description, "content": {"application/json": {"schema": schema}}}
            if schema is not None
            else {"description": description}
        )
    codes = set(errors)
    if body is not None:
        codes |= {"400", "413", "415"}
    if any(p["name"] == "host_id" for p in params):
        codes |= {"404"}
    if any(p.get("in") == "path" for p in params):
        codes |= {"400"}  # a control character in a path parameter
    if public:
        codes.discard("401")
    else:
        codes |= {"403"}
    for code in sorted(codes):
        responses[code] = {
            "description": _ERROR_STATUSES[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    operation: Schema = {"summary": summary, "responses": responses}
    if tag:
        operation["tags"] = [tag]
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if public:
        operation["security"] = []
    return operation


def _list(name: str) -> Schema:
    return {"type": "array", "items": _ref(name)}


def _paths() -> dict[str, Schema]:
    h, hv = (_HOST_ID,), (_HOST_ID, _VM_NAME)
    unavailable = ("401", "503")
    return {
        "/hosts": {
            "get": _op("List configured hosts", schema=_list("Host"), tag="hosts"),
            "post": _op(
                "Add a host, connect to it and store it",
                schema=_ref("Host"),
                body="NewHost",
                errors=("401", "409", "500"),
                tag="hosts",
            ),
        },
        "/hosts/{host_id}": {
            "delete": _op("Disconnect and remove a host", ok="204", params=h, tag="hosts"),
        },
        "/hosts/{host_id}/connect": {
            "post": _op(
                "Connect a host (clears a user disconnect)",
                schema=_ref("Host"),
                params=h,
                errors=("401", "500"),
                tag="hosts",
            ),
        },
        "/hosts/{host_id}/disconnect": {
            "post": _op(
                "Disconnect a host and disable auto-reconnect",
                schema=_ref("Host"),
                params=h,
                tag="hosts",
            ),
        },
        "/hosts/{host_id}/info": {
            "get": _op(
                "Live host information",
                schema=_ref("HostInfo"),
                params=h,
                errors=unavailable,
                tag="hosts",
            ),
        },
        "/hosts/{host_id}/vms": {
            "get": _op("Managed VMs of a host", schema=_list("Vm"), params=h, tag="vms"),
        },
        "/hosts/{host_id}/vms/{vm_name}/hardware": {
            "get": _op(
                "A VM's hardware (fresh sync first)",
                schema=_ref("Hardware"),
                params=hv,
                errors=unavailable,
                tag="vms",
            ),
        },
        "/hosts/{host_id}/vms/{vm_name}/action": {
            "post": _op(
                "Power action: start, shutdown, reboot, destroy, reset",
                ok="204",
                body="Action",
                params=hv,
                errors=("401", "409", "503"),
                tag="vms",
            ),
        },
        "/hosts/{host_id}/discovered-vms": {
            "get": _op(
                "Domains on the host not managed yet",
                schema=_list("DiscoveredVm"),
                params=h,
                tag="discovered",
            ),
            "delete": _op(
                "Dismiss discovered VMs",
                ok="202",
                body="DomainUuids",
                params=h,
                tag="discovered",
            ),
        },
        "/hosts/{host_id}/vms/{vm_name}/import": {
            "post": _op(
                "Import one discovered VM",
                ok="202",
                params=hv,
                errors=unavailable,
                tag="discovered",
            ),
        },
        "/hosts/{host_id}/vms/import-all": {
            "post": _op(
                "Import every discovered VM",
                ok="202",
                params=h,
                errors=unavailable,
                tag="discovered",
            ),
        },
        "/hosts/{host_id}/vms/import-selected": {
            "post": _op(
                "Import discovered VMs by domain UUID",
                ok="202",
                body="DomainUuids",
                params=h,
                errors=unavailable,
                tag="discovered",
            ),
        },
        "/storage/pools": {
            "get": _op("All storage pools", schema=_list("StoragePool"), tag="storage")
        },
        "/storage/volumes": {
            "get": _op("All storage volumes", schema=_list("StorageVolume"), tag="storage")
        },
        "/storage/disk-attachments": {
            "get": _op("All disk attachments", schema=_list("DiskAttachment"), tag="storage")
        },
        "/hosts/{host_id}/storage/pools": {
            "get": _op(
                "A host's storage pools", schema=_list("StoragePool"), params=h, tag="storage"
            )
        },
        "/hosts/{host_id}/storage/volumes": {
            "get": _op(
                "A host's storage volumes", schema=_list("StorageVolume"), params=h, tag="storage"
            )
        },
        "/networks": {"get": _op("All networks", schema=_list("Network"), tag="network")},
        "/ports": {"get": _op("All ports", schema=_list("Port"), tag="network")},
        "/port-attachments": {
            "get": _op("All port attachments", schema=_list("PortAttachment"), tag="network")
        },
        "/hosts/{host_id}/networks": {
            "get": _op("A host's networks", schema=_list("Network"), params=h, tag="network")
        },
        "/hosts/{host_id}/ports": {
            "get": _op("A host's ports", schema=_list("HostPort"), params=h, tag="network")
        },
        "/hosts/{host_id}/vms/{vm_name}/port-attachments": {
            "get": _op(
                "A VM's port attachments", schema=_list("PortAttachment"), params=hv, tag="network"
            )
        },
        "/video/models": {"get": _op("Video models", schema=_list("VideoModel"), tag="video")},
        "/hosts/{host_id}/video/devices": {
            "get": _op(
                "A host's physical video devices",
                schema=_list("HostVideoDevice"),
                params=h,
                tag="video",
            )
        },
        "/hosts/{host_id}/vms/{vm_name}/video-attachments": {
            "get": _op(
                "A VM's video devices", schema=_list("VideoAttachment"), params=hv, tag="video"
            )
        },
        "/dashboard/stats": {
            "get": _op("Dashboard counters", schema=_ref("DashboardStats"), tag="dashboard")
        },
        "/dashboard/activity": {
            "get": _op(
                "Recent activity, newest first",
                schema=_list("ActivityEvent"),
                params=(_LIMIT,),
                errors=("400", "401"),
                tag="dashboard",
            )
        },
        "/dashboard/overview": {
            "get": _op(
                "Dashboard counters and recent activity",
                schema=_ref("DashboardOverview"),
                params=(_LIMIT,),
                errors=("400", "401"),
                tag="dashboard",
            )
        },
        "/topology": {
            "get": _op(
                "Hosts and VMs placed for drawing, with status colours",
                schema=_ref("Topology"),
                tag="dashboard",
            )
        },
        "/settings/metrics": {
            "get": _op(
                "Persisted metrics settings", schema=_ref("MetricsSettings"), tag="settings"
            ),
            "put": _op(
                "Merge and persist metrics settings; returns the result",
                schema=_ref("MetricsSettings"),
                body="MetricsSettingsChanges",
                tag="settings",
            ),
        },
        "/settings/metrics/runtime": {
            "get": _op("Metrics settings in effect", schema=_ref("MetricsSettings"), tag="settings")
        },
        "/health": {
            "get": _op("Health check", schema=_ref("Health"), public=True, errors=(), tag="service")
        },
        "/session": {
            "post": _op("Set the session cookie WebSockets accept", ok="204", tag="service"),
            "delete": _op("Clear the session cookie", ok="204", tag="service"),
        },
        "/openapi.json": {"get": _op("This document", schema={"type": "object"}, tag="service")},
        "/tokens": {
            "get": _op(
                "List API tokens (admin; never a secret)", schema=_list("Token"), tag="tokens"
            ),
            "post": _op(
                "Create an API token (admin); the 201 body holds its secret, shown only this once",
                ok="201",
                schema=_ref("CreatedToken"),
                body="NewToken",
                errors=("401", "409"),
                tag="tokens",
            ),
        },
        "/tokens/{token_id}": {
            "delete": _op(
                "Revoke an API token (admin)",
                ok="204",
                params=({"name": "token_id", "in": "path", "required": True, "schema": _STR},),
                errors=("401", "404"),
                tag="tokens",
            )
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document (paths relative to the ``/api/v1`` server)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Virtumancer API",
            "version": virtumancer.__version__,
            "description": "Manage libvirt/KVM hosts and their VMs. WebSocket: `/ws`.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


class OpenApiResource:
    """``/api/v1/openapi.json``."""

    def __init__(self) -> None:
        self._body = json.dumps(openapi_document(), separators=(",", ":")).encode()

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body
