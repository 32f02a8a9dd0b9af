"""Storage pools, volumes and networks for the service, with the database kept true.

Each change is one host call, then the host's inventory is synced at once (pools, volumes
and networks are database records too), with an activity entry and a ``hosts-changed``
notification.

What takes time in proportion to a volume's size runs as a task (progress in bytes,
cancellable): a copy, always. A create is sparse (metadata only, whatever its size), so it
answers at once.
"""

from __future__ import annotations

from virtumancer.db import activity as db_activity
from virtumancer.db.database import Database
from virtumancer.exceptions import HostUnavailableError
from virtumancer.models.events import ConnectionState
from virtumancer.models.network import NatNetworkSpec, Network
from virtumancer.models.notifications import HostsChanged
from virtumancer.models.records import ActivityType
from virtumancer.models.spec import VolumeFormat
from virtumancer.models.storage import StoragePool, StorageVolume
from virtumancer.models.tasks import Task
from virtumancer.pool import ConnectionPool
from virtumancer.services.inventory import InventoryService
from virtumancer.services.notifications import NotificationHub
from virtumancer.tasks import TaskProgress, TaskRegistry

__all__ = ["StorageService"]


class StorageService:
    """Create and remove storage pools, volumes and NAT networks of the pool's hosts."""

    def __init__(
        self,
        pool: ConnectionPool,
        database: Database,
        inventory: InventoryService,
        hub: NotificationHub,
        tasks: TaskRegistry | None = None,
    ) -> None:
        self.pool = pool
        self.database = database
        self.inventory = inventory
        self.hub = hub
        self.tasks = tasks if tasks is not None else TaskRegistry(hub)

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

    async def copy_volume(
        self,
        host_id: str,
        pool_name: str,
        volume_name: str,
        name: str,
        *,
        target_pool: str | None = None,
    ) -> Task:
        """Copy a volume as ``name`` (into ``target_pool``, default its pool), as a task.

        The task's result is the new volume; its progress counts the bytes copied. An
        unknown volume or pool, or a name in use, is refused at once; a host lost meanwhile
        fails the task; a cancelled or failed copy leaves no volume behind.
        """
        host = self.pool.get(host_id)
        await host.check_volume_copy(pool_name, volume_name, name, target_pool=target_pool)

        def connected() -> None:
            if host.state is not ConnectionState.CONNECTED:
                raise HostUnavailableError(
                    f"host {host_id} was lost during the copy", host_id=host_id
                )

        async def work(progress: TaskProgress) -> StorageVolume:
            progress.checks.append(connected)
            made = await host.copy_volume(
                pool_name, volume_name, name, target_pool=target_pool, progress=progress.update
            )
            await self._changed(
                host_id,
                ActivityType.STORAGE_CHANGED,
                f"volume {volume_name} of {pool_name} copied as {name}"
                f" in {target_pool or pool_name}",
            )
            return made

        return self.tasks.submit("volume-copy", work, host_id=host_id)

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
