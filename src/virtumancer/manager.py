"""Virtumancer: the one object the web service calls (one method per route)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from virtumancer.models.domain import DomainDevices
from virtumancer.models.host import HostInfo
from virtumancer.models.notifications import Notification
from virtumancer.models.records import (
    ActivityEvent,
    DashboardOverview,
    DashboardStats,
    DiscoveredVm,
    DiskAttachmentRecord,
    HostPortRecord,
    HostRecord,
    HostVideoDeviceRecord,
    NetworkRecord,
    PortAttachmentRecord,
    PortRecord,
    StoragePoolRecord,
    StorageVolumeRecord,
    VideoAttachmentRecord,
    VideoModelRecord,
    VmRecord,
)
from virtumancer.models.settings import MetricsSettings

if TYPE_CHECKING:
    import anyio.abc

__all__ = ["Virtumancer"]


class Virtumancer:
    """Hosts, VMs, inventory, activity and settings behind one async object.

    Use it as ``async with Virtumancer(database_url) as vm: ...``. On entry the database is
    migrated, the saved hosts are added to the connection pool (those a user disconnected stay
    disconnected) and inventory sync starts; on exit everything is cancelled and closed.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        allow_test_uris: bool = True,
        stats_interval: float | None = None,
    ) -> None:
        self._database_url = database_url
        self._allow_test_uris = allow_test_uris
        self._stats_interval = stats_interval

    async def __aenter__(self) -> Self:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    # hosts
    async def list_hosts(self) -> list[HostRecord]:
        raise NotImplementedError

    async def add_host(self, host_id: str, uri: str) -> HostRecord:
        raise NotImplementedError

    async def connect_host(self, host_id: str) -> HostRecord:
        raise NotImplementedError

    async def disconnect_host(self, host_id: str) -> HostRecord:
        raise NotImplementedError

    async def remove_host(self, host_id: str) -> None:
        raise NotImplementedError

    async def host_info(self, host_id: str) -> HostInfo:
        raise NotImplementedError

    # VMs
    async def list_vms(self, host_id: str) -> list[VmRecord]:
        raise NotImplementedError

    async def vm_hardware(self, host_id: str, vm_name: str) -> DomainDevices:
        raise NotImplementedError

    async def vm_action(self, host_id: str, vm_name: str, action: str) -> None:
        raise NotImplementedError

    # discovered
    async def list_discovered_vms(self, host_id: str) -> list[DiscoveredVm]:
        raise NotImplementedError

    async def import_vm(self, host_id: str, vm_name: str) -> None:
        raise NotImplementedError

    async def import_all_vms(self, host_id: str) -> None:
        raise NotImplementedError

    async def import_selected_vms(self, host_id: str, domain_uuids: Sequence[str]) -> None:
        raise NotImplementedError

    async def dismiss_discovered_vms(self, host_id: str, domain_uuids: Sequence[str]) -> None:
        raise NotImplementedError

    # storage / network / video
    async def list_storage_pools(self, host_id: str | None = None) -> list[StoragePoolRecord]:
        raise NotImplementedError

    async def list_storage_volumes(self, host_id: str | None = None) -> list[StorageVolumeRecord]:
        raise NotImplementedError

    async def list_disk_attachments(self) -> list[DiskAttachmentRecord]:
        raise NotImplementedError

    async def list_networks(self, host_id: str | None = None) -> list[NetworkRecord]:
        raise NotImplementedError

    async def list_ports(self) -> list[PortRecord]:
        raise NotImplementedError

    async def list_host_ports(self, host_id: str) -> list[HostPortRecord]:
        raise NotImplementedError

    async def list_port_attachments(
        self, host_id: str | None = None, vm_name: str | None = None
    ) -> list[PortAttachmentRecord]:
        raise NotImplementedError

    async def list_video_models(self) -> list[VideoModelRecord]:
        raise NotImplementedError

    async def list_host_video_devices(self, host_id: str) -> list[HostVideoDeviceRecord]:
        raise NotImplementedError

    async def list_video_attachments(
        self, host_id: str, vm_name: str
    ) -> list[VideoAttachmentRecord]:
        raise NotImplementedError

    # dashboard
    async def dashboard_stats(self) -> DashboardStats:
        raise NotImplementedError

    async def recent_activity(self, limit: int = 10) -> list[ActivityEvent]:
        raise NotImplementedError

    async def dashboard_overview(self, limit: int = 10) -> DashboardOverview:
        raise NotImplementedError

    # settings
    async def get_metrics_settings(self) -> MetricsSettings:
        raise NotImplementedError

    async def update_metrics_settings(self, changes: Mapping[str, object]) -> MetricsSettings:
        raise NotImplementedError

    async def runtime_metrics_settings(self) -> MetricsSettings:
        raise NotImplementedError

    # notifications
    def subscribe_notifications(
        self,
    ) -> AbstractAsyncContextManager[AsyncIterator[Notification]]:
        raise NotImplementedError

    # live stats and consoles (delegated to services/stats.py and services/console.py)
    @property
    def stats(self) -> Any:
        raise NotImplementedError

    async def console_target(
        self, host_id: str, vm_name: str, kind: Literal["vnc", "spice"] | None = None
    ) -> Any:
        raise NotImplementedError

    def open_console(self, target: Any) -> AbstractAsyncContextManager[anyio.abc.ByteStream]:
        raise NotImplementedError

    @property
    def pool(self) -> Any:
        raise NotImplementedError
