"""Storage, network and video inventory, globally and per host/VM."""

from __future__ import annotations

import falcon.asgi

from virtumancer import Virtumancer
from virtumancer_server.resources._common import Json

__all__ = [
    "DiskAttachmentsResource",
    "HostNetworksResource",
    "HostPortsResource",
    "HostStoragePoolsResource",
    "HostStorageVolumesResource",
    "HostVideoDevicesResource",
    "NetworksResource",
    "PortAttachmentsResource",
    "PortsResource",
    "StoragePoolsResource",
    "StorageVolumesResource",
    "VideoModelsResource",
    "VmPortAttachmentsResource",
    "VmVideoAttachmentsResource",
]

Request = falcon.asgi.Request
Response = falcon.asgi.Response


class _Resource:
    def __init__(self, manager: Virtumancer, json: Json) -> None:
        self._vm = manager
        self._json = json


class StoragePoolsResource(_Resource):
    """``/api/v1/storage/pools``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_storage_pools())


class HostStoragePoolsResource(_Resource):
    """``/api/v1/hosts/{host_id}/storage/pools``."""

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.list_storage_pools(host_id))


class StorageVolumesResource(_Resource):
    """``/api/v1/storage/volumes``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_storage_volumes())


class HostStorageVolumesResource(_Resource):
    """``/api/v1/hosts/{host_id}/storage/volumes``."""

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.list_storage_volumes(host_id))


class DiskAttachmentsResource(_Resource):
    """``/api/v1/storage/disk-attachments``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_disk_attachments())


class NetworksResource(_Resource):
    """``/api/v1/networks``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_networks())


class HostNetworksResource(_Resource):
    """``/api/v1/hosts/{host_id}/networks``."""

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.list_networks(host_id))


class PortsResource(_Resource):
    """``/api/v1/ports``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_ports())


class HostPortsResource(_Resource):
    """``/api/v1/hosts/{host_id}/ports``."""

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.list_host_ports(host_id))


class PortAttachmentsResource(_Resource):
    """``/api/v1/port-attachments``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_port_attachments())


class VmPortAttachmentsResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms/{vm_name}/port-attachments``."""

    async def on_get(self, req: Request, resp: Response, host_id: str, vm_name: str) -> None:
        self._json.send(resp, await self._vm.list_port_attachments(host_id, vm_name))


class VideoModelsResource(_Resource):
    """``/api/v1/video/models``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        self._json.send(resp, await self._vm.list_video_models())


class HostVideoDevicesResource(_Resource):
    """``/api/v1/hosts/{host_id}/video/devices``."""

    async def on_get(self, req: Request, resp: Response, host_id: str) -> None:
        self._json.send(resp, await self._vm.list_host_video_devices(host_id))


class VmVideoAttachmentsResource(_Resource):
    """``/api/v1/hosts/{host_id}/vms/{vm_name}/video-attachments``."""

    async def on_get(self, req: Request, resp: Response, host_id: str, vm_name: str) -> None:
        self._json.send(resp, await self._vm.list_video_attachments(host_id, vm_name))
