"""Storage pools, volumes and networks for the service, with the database kept true.

Each change is one host call, then the host's inventory is synced at once (pools, volumes
and networks are database records too), with an activity entry and a ``hosts-changed``
notification.
"""

from __future__ import annotations

from virtumancer.db import activity as db_activity
from virtumancer.db.database import Database
from virtumancer.models.network import NatNetworkSpec, Network
from virtumancer.models.notifications import HostsChanged
from virtumancer.models.records import ActivityType
from virtumancer.models.spec import VolumeFormat
from virtumancer.models.storage import StoragePool, StorageVolume
from virtumancer.pool import ConnectionPool
from virtumancer.services.inventory import InventoryService
from virtumancer.services.notifications import NotificationHub

__all__ = ["StorageService"]


class StorageService:
    """Create and remove storage pools, volumes and NAT networks of the pool's hosts."""

    def __init__(
        self,
        pool: ConnectionPool,
        database: Database,
        inventory: InventoryService,
        hub: NotificationHub,
    ) -> None:
        self.pool = pool
        self.database = database
        self.inventory = inventory
        self.hub = hub

    def __repr__(self) -> str:
        return f"<StorageService {self.pool!r}>"

    async def _changed(self, host_id: str, kind: str, message: str) -> None:
        await self.inventory.sync_host(host_id)
        await self.database.run(
            lambda s: db_activity.add_activity(
                s, kind, f"{message} on host {host_id}", host_id=host_id
            )
        )
        self.hub.publish(HostsChanged())

    async def create_storage_pool(
        self, host_id: str, name: str, path: str, *, autostart: bool = True
    ) -> StoragePool:
        """Define and start a directory pool (its directory made if missing)."""
        made = await self.pool.reach(host_id).create_storage_pool(name, path, autostart=autostart)
        await self._changed(host_id, ActivityType.STORAGE_CHANGED, f"storage pool {name} created")
        return made

    async def delete_storage_pool(
        self, host_id: str, pool_name: str, *, delete_volumes: bool = False
    ) -> list[str]:
        """Remove a pool (its volumes too with ``delete_volumes``); the volumes deleted."""
        host = self.pool.reach(host_id)
        deleted = await host.delete_storage_pool(pool_name, delete_volumes=delete_volumes)
        await self._changed(
            host_id, ActivityType.STORAGE_CHANGED, f"storage pool {pool_name} deleted"
        )
        return deleted

    async def create_volume(
        self,
        host_id: str,
        pool_name: str,
        name: str,
        size_bytes: int,
        *,
        format: VolumeFormat | str = VolumeFormat.QCOW2,
    ) -> StorageVolume:
        """Create a volume in a pool."""
        host = self.pool.reach(host_id)
        made = await host.create_volume(pool_name, name, size_bytes, format=format)
        await self._changed(
            host_id, ActivityType.STORAGE_CHANGED, f"volume {name} created in {pool_name}"
        )
        return made

    async def resize_volume(
        self, host_id: str, pool_name: str, volume_name: str, size_bytes: int
    ) -> StorageVolume:
        """Grow a volume."""
        host = self.pool.reach(host_id)
        resized = await host.resize_volume(pool_name, volume_name, size_bytes)
        await self._changed(
            host_id,
            ActivityType.STORAGE_CHANGED,
            f"volume {volume_name} in {pool_name} grown to {size_bytes} bytes",
        )
        return resized

    async def delete_volume(self, host_id: str, pool_name: str, volume_name: str) -> None:
        """Delete a volume no VM uses."""
        await self.pool.reach(host_id).delete_volume(pool_name, volume_name)
        await self._changed(
            host_id, ActivityType.STORAGE_CHANGED, f"volume {volume_name} deleted from {pool_name}"
        )

    async def define_network(self, host_id: str, spec: NatNetworkSpec) -> Network:
        """Define a NAT network with a DHCP range."""
        network = await self.pool.reach(host_id).define_network(spec)
        await self._changed(host_id, ActivityType.NETWORK_CHANGED, f"network {spec.name} defined")
        return network

    async def start_network(self, host_id: str, network_name: str) -> Network:
        """Start a network."""
        network = await self.pool.reach(host_id).start_network(network_name)
        await self._changed(
            host_id, ActivityType.NETWORK_CHANGED, f"network {network_name} started"
        )
        return network

    async def stop_network(self, host_id: str, network_name: str) -> Network:
        """Stop a network."""
        network = await self.pool.reach(host_id).stop_network(network_name)
        await self._changed(
            host_id, ActivityType.NETWORK_CHANGED, f"network {network_name} stopped"
        )
        return network

    async def delete_network(self, host_id: str, network_name: str) -> None:
        """Stop and undefine a network."""
        await self.pool.reach(host_id).delete_network(network_name)
        await self._changed(
            host_id, ActivityType.NETWORK_CHANGED, f"network {network_name} deleted"
        )
