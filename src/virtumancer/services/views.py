"""Views of the stored inventory for the API: listings, the dashboard, the topology.

Reads only: the database (one query function each) plus the hosts' live connection state.
"""

from __future__ import annotations

import attrs

from virtumancer.db import activity as db_activity
from virtumancer.db import queries as db_queries
from virtumancer.db.database import Database
from virtumancer.exceptions import InvalidInputError
from virtumancer.models import records
from virtumancer.services.hosts import HostService
from virtumancer.topology import TopologyLayout, build_topology, layout_topology

__all__ = ["InventoryViews"]


class InventoryViews:
    """What the API lists, from the database; host state is the live one."""

    def __init__(self, database: Database, hosts: HostService) -> None:
        self.database = database
        self.hosts = hosts

    def __repr__(self) -> str:
        return f"<InventoryViews {self.database!r}>"

    async def list_vms(self, host_id: str) -> list[records.VmRecord]:
        """Return the managed VMs of a host."""
        return await self.database.run(db_queries.list_vms, host_id)

    async def get_vm(self, host_id: str, vm_name: str) -> records.VmRecord:
        """Return one managed VM by name (:class:`NotFoundError`)."""
        return await self.database.run(db_queries.get_vm, host_id, vm_name)

    async def list_discovered_vms(self, host_id: str) -> list[records.DiscoveredVm]:
        """Return the domains of a host that are neither managed nor dismissed."""
        return await self.database.run(db_queries.list_discovered, host_id)

    async def list_storage_pools(self, host_id: str | None) -> list[records.StoragePoolRecord]:
        """Return the storage pools of one host or of every host."""
        return await self.database.run(db_queries.list_storage_pools, host_id)

    async def list_storage_volumes(self, host_id: str | None) -> list[records.StorageVolumeRecord]:
        """Return every volume of every pool of one host or of every host."""
        return await self.database.run(db_queries.list_storage_volumes, host_id)

    async def list_disk_attachments(self) -> list[records.DiskAttachmentRecord]:
        """Return the disks of every managed VM."""
        return await self.database.run(db_queries.list_disk_attachments)

    async def list_networks(self, host_id: str | None) -> list[records.NetworkRecord]:
        """Return the networks of one host or of every host."""
        return await self.database.run(db_queries.list_networks, host_id)

    async def list_ports(self) -> list[records.PortRecord]:
        """Return every port of every host."""
        return await self.database.run(db_queries.list_ports)

    async def list_host_ports(self, host_id: str) -> list[records.HostPortRecord]:
        """Return the ports of a host with the VMs they are attached to."""
        return await self.database.run(db_queries.list_host_ports, host_id)

    async def list_port_attachments(
        self, host_id: str | None, vm_name: str | None
    ) -> list[records.PortAttachmentRecord]:
        """Return port attachments of every VM, of a host, or of one VM."""
        if vm_name is not None and host_id is None:
            raise InvalidInputError("vm_name needs a host_id", field="host_id")
        return await self.database.run(db_queries.list_port_attachments, host_id, vm_name)

    async def list_video_models(self) -> list[records.VideoModelRecord]:
        """Return the video model templates seen on managed VMs."""
        return await self.database.run(db_queries.list_video_models)

    async def list_host_video_devices(self, host_id: str) -> list[records.HostVideoDeviceRecord]:
        """Return the GPUs of a host."""
        return await self.database.run(db_queries.list_host_video_devices, host_id)

    async def list_video_attachments(
        self, host_id: str, vm_name: str
    ) -> list[records.VideoAttachmentRecord]:
        """Return the video adapters of one managed VM."""
        return await self.database.run(db_queries.list_video_attachments, host_id, vm_name)

    async def dashboard_stats(self) -> records.DashboardStats:
        """Return system-wide counters (connected hosts are counted live)."""
        stats = await self.database.run(db_queries.dashboard_stats)
        if self.hosts.shared:
            return stats  # fleet mode: each owner stores its hosts' state; this pool has some
        return attrs.evolve(stats, connected_hosts=self.hosts.connected_count())

    async def topology(self) -> TopologyLayout:
        """Return the placed picture of every host (live state) and its managed VMs."""
        hosts = await self.hosts.list_hosts()
        vms = await self.database.run(lambda s: {h.id: db_queries.list_vms(s, h.id) for h in hosts})
        return layout_topology(build_topology(hosts, vms))

    async def recent_activity(self, limit: int) -> list[records.ActivityEvent]:
        """Return the newest ``limit`` activity entries, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be an integer from 1 to 1000", field="limit")
        return await self.database.run(db_activity.recent_activity, limit)

    async def dashboard_overview(self, limit: int) -> records.DashboardOverview:
        """Return the dashboard counters and the recent activity."""
        return records.DashboardOverview(
            stats=await self.dashboard_stats(),
            recent_activity=tuple(await self.recent_activity(limit)),
        )
