"""Hosts, their VMs, power actions and discovered (not yet imported) VMs."""

from __future__ import annotations

import re
from typing import Final

import falcon
import falcon.asgi

from virtumancer import ConflictError, InvalidInputError, Virtumancer, host_info_payload
from virtumancer_server.cache import ResponseCache
from virtumancer_server.errors import FieldConflictError
from virtumancer_server.resources._common import (
    Json,
    read_json_object,
    require_str,
    require_uuid_list,
)

__all__ = [
    "HOST_ID_PATTERN",
    "DiscoveredVmsResource",
    "HostConnectResource",
    "HostDisconnectResource",
    "HostInfoResource",
    "HostResource",
    "HostsResource",
    "ImportAllResource",
    "ImportSelectedResource",
    "ImportVmResource",
    "VmActionResource",
    "VmHardwareResource",
    "VmsResource",
]

Request = falcon.asgi.Request
Response = falcon.asgi.Response

#: What a new host id may look like: it becomes a URL path segment (``/hosts/{id}/...``), so
#: no ``/``, spaces or other characters that would make the host unreachable through the API.
HOST_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_HOST_ID = re.compile(HOST_ID_PATTERN)


class _Resource:
    def __init__(self, manager: Virtumancer, json: Json, max_body_bytes: int) -> None:
        self._vm = manager
        self._json = json
        self._max_body = max_body_bytes


class HostsResource(_Resource):
    """``/api/v1/hosts``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_hosts())

    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json_object(req, self._max_body)
        host_id, uri = require_str(body, "id"), require_str(body, "uri")
        if not _HOST_ID.fullmatch(host_id):
            raise InvalidInputError(
                f"id {host_id[:80]!r} is not allowed: use 1-64 letters, digits, '.', '_' or "
                "'-', starting with a letter or digit",
                field="id",
            )
        hosts = await self._vm.list_hosts()
        if any(existing.id == host_id for existing in hosts):
            raise FieldConflictError(
                f"a host with id {host_id!r} already exists", field="id", host_id=host_id
            )
        for existing in hosts:
            if existing.uri == uri:
                # Two ids on one hypervisor would fight over the same domains' records.
                raise FieldConflictError(
                    f"uri {uri!r} is already configured as host {existing.id!r}",
                    field="uri",
                    host_id=existing.id,
                )
        try:
            record = await self._vm.add_host(host_id, uri)
        except ConflictError as exc:
            raise FieldConflictError(
                f"a host with id {host_id!r} already exists", field="id", host_id=host_id
            ) from exc
        self._json.send(resp, record)


class HostResource(_Resource):
    """``/api/v1/hosts/{host_id}``."""

    async def on_delete(self, req: Request, resp: Response, host_id: str) -> None:
        await self._vm.remove_host(host_id)
        resp.status = falcon.HTTP_204


class HostConnectResource(_Resource):
    """``/api/v1/hosts/{host_id}/connect``."""

    async def on_post(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.connect_host(host_id))


class HostDisconnectResource(_Resource):
    """``/api/v1/hosts/{host_id}/disconnect``."""

    async def on_post(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.disconnect_host(host_id))


class HostInfoResource(_Resource):
    """``/api/v1/hosts/{host_id}/info``."""

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, host_info_payload(await self._vm.host_info(host_id)))


class VmsResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms`` (the encoded body is cached until the list changes)."""

    def __init__(
        self, manager: Virtumancer, json: Json, max_body_bytes: int, cache: ResponseCache
    ) -> None:
        super().__init__(manager, json, max_body_bytes)
        self._cache = cache

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        async def encoded() -> bytes:
            return self._json.dumps(await self._vm.list_vms(host_id))

        resp.content_type = falcon.MEDIA_JSON
        resp.data = await self._cache.get_or_compute(("vms", host_id), encoded)


class VmHardwareResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms/{vm_name}/hardware``."""

    async def on_get(self, req: Request, resp: Response, host_id: str, vm_name: str) -> None:
        self._json.send(resp, await self._vm.vm_hardware(host_id, vm_name))


class VmActionResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms/{vm_name}/action``."""

    async def on_post(self, req: Request, resp: Response, host_id: str, vm_name: str) -> None:
        body = await read_json_object(req, self._max_body)
        await self._vm.vm_action(host_id, vm_name, require_str(body, "action"))
        resp.status = falcon.HTTP_204


class DiscoveredVmsResource(_Resource):
    """``/api/v1/hosts/{host_id}/discovered-vms``."""

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.list_discovered_vms(host_id))

    async def on_delete(self, req: Request, resp: Response, host_id: str) -> None:
        body = await read_json_object(req, self._max_body)
        uuids = require_uuid_list(body, "domain_uuids")
        await self._vm.dismiss_discovered_vms(host_id, uuids)
        resp.status = falcon.HTTP_202


class ImportVmResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms/{vm_name}/import``."""

    async def on_post(self, req: Request, resp: Response, host_id: str, vm_name: str) -> None:
        await self._vm.import_vm(host_id, vm_name)
        resp.status = falcon.HTTP_202


class ImportAllResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms/import-all``."""

    async def on_post(self, req: Request, resp: Response, host_id: str) -> None:
        await self._vm.import_all_vms(host_id)
        resp.status = falcon.HTTP_202


class ImportSelectedResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms/import-selected``."""

    async def on_post(self, req: Request, resp: Response, host_id: str) -> None:
        body = await read_json_object(req, self._max_body)
        uuids = require_uuid_list(body, "domain_uuids")
        await self._vm.import_selected_vms(host_id, uuids)
        resp.status = falcon.HTTP_202
