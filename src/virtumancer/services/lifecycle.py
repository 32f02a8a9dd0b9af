"""VM lifecycle for the service: create, define, change and delete, with the database kept true.

Each operation is one host call (:mod:`virtumancer._libvirt.lifecycle` does the work and
cleans up after a failure), then the VM is re-read into the database at once -- a created VM
carries our provenance, so it is managed without an import -- with an activity entry and a
``vms-changed`` notification.
"""

from __future__ import annotations

import contextlib

from virtumancer.db import activity as db_activity
from virtumancer.db import queries as db_queries
from virtumancer.db import sync_writes as db_sync
from virtumancer.db.database import Database
from virtumancer.exceptions import ConflictError, HostUnavailableError, NotFoundError
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.events import ConnectionState
from virtumancer.models.lifecycle import DeletePlan, DeviceScope, VmChange
from virtumancer.models.notifications import VmsChanged
from virtumancer.models.records import ActivityType, VmRecord
from virtumancer.models.snapshot import Snapshot
from virtumancer.models.spec import DiskSpec, ExistingPath, ExistingVolume, NicSpec, VmSpec
from virtumancer.models.tasks import Task
from virtumancer.pool import ConnectionPool
from virtumancer.services.inventory import InventoryService
from virtumancer.services.notifications import NotificationHub
from virtumancer.tasks import TaskProgress, TaskRegistry

__all__ = ["LifecycleService"]


class LifecycleService:
    """Create, define, change and delete VMs of the pool's hosts."""

    def __init__(
        self,
        pool: ConnectionPool,
        database: Database,
        inventory: InventoryService,
        hub: NotificationHub,
        tasks: TaskRegistry,
    ) -> None:
        self.pool = pool
        self.database = database
        self.inventory = inventory
        self.hub = hub
        self.tasks = tasks

    def __repr__(self) -> str:
        return f"<LifecycleService {self.pool!r}>"

    async def _recorded(self, host_id: str, domain: Domain, kind: str, verb: str) -> VmRecord:
        """Write a VM made or changed now into the database, with an activity entry."""
        await self.inventory.reread_domain(host_id, domain.uuid)
        await self.database.run(
            lambda s: db_activity.add_activity(
                s,
                kind,
                f"VM {domain.name}: {verb} on host {host_id}"
                if " " in verb
                else f"VM {domain.name} {verb} on host {host_id}",
                host_id=host_id,
                vm_name=domain.name,
            )
        )
        self.hub.publish(VmsChanged(host_id=host_id))
        # One row by name (not the host's whole list: a create answers in O(1) on a big host).
        with contextlib.suppress(NotFoundError):
            found = await self.database.run(db_queries.get_vm, host_id, domain.name)
            if found.uuid == domain.uuid:
                return found
        for record in await self.database.run(db_queries.list_vms, host_id):
            if record.uuid == domain.uuid:
                return record
        raise NotFoundError("the VM vanished right after it was written", host_id=host_id)

    async def create_vm(self, host_id: str, spec: VmSpec, *, start: bool = False) -> VmRecord:
        """Create a VM from ``spec`` (define it; start it if asked) and return its record."""
        host = self.pool.reach(host_id)
        domain = await host.create_vm(spec, start=start)
        await self.inventory.refresh_storage(host_id)  # its new volumes and seed
        return await self._recorded(host_id, domain, ActivityType.VM_CREATED, "created")

    async def define_vm_xml(self, host_id: str, xml: str, *, start: bool = False) -> VmRecord:
        """Define a VM from raw domain XML (checked by the parser first); return its record."""
        host = self.pool.reach(host_id)
        domain = await host.define_vm_xml(xml, start=start)
        return await self._recorded(host_id, domain, ActivityType.VM_CREATED, "defined")

    async def update_vm(self, host_id: str, vm_name: str, change: VmChange) -> VmRecord:
        """Change memory, vCPUs, description, autostart or CD-ROM media; return the record."""
        host = self.pool.reach(host_id)
        domain = await host.update_vm(vm_name, change)
        return await self._recorded(host_id, domain, ActivityType.VM_CHANGED, "changed")

    async def attach_disk(
        self,
        host_id: str,
        vm_name: str,
        disk: DiskSpec,
        *,
        target: str | None = None,
        scope: DeviceScope | None = None,
    ) -> VmRecord:
        """Attach a disk (live and/or in the definition, as ``scope`` says); return the record."""
        host = self.pool.reach(host_id)
        domain = await host.attach_disk(vm_name, disk, target=target, scope=scope)
        if not isinstance(disk, ExistingVolume | ExistingPath):
            await self.inventory.refresh_storage(host_id)  # the volume it made
        return await self._recorded(host_id, domain, ActivityType.VM_CHANGED, "disk attached")

    async def detach_disk(
        self, host_id: str, vm_name: str, target: str, *, scope: DeviceScope | None = None
    ) -> VmRecord:
        """Detach the disk ``target`` (its volume is kept); return the VM's record."""
        host = self.pool.reach(host_id)
        domain = await host.detach_disk(vm_name, target, scope=scope)
        return await self._recorded(
            host_id, domain, ActivityType.VM_CHANGED, f"disk {target} detached"
        )

    async def attach_interface(
        self, host_id: str, vm_name: str, nic: NicSpec, *, scope: DeviceScope | None = None
    ) -> VmRecord:
        """Attach a NIC (a MAC is generated when the spec has none); return the record."""
        host = self.pool.reach(host_id)
        domain = await host.attach_interface(vm_name, nic, scope=scope)
        return await self._recorded(host_id, domain, ActivityType.VM_CHANGED, "NIC attached")

    async def detach_interface(
        self, host_id: str, vm_name: str, mac: str, *, scope: DeviceScope | None = None
    ) -> VmRecord:
        """Detach the NIC with MAC ``mac``; return the VM's record."""
        host = self.pool.reach(host_id)
        domain = await host.detach_interface(vm_name, mac, scope=scope)
        return await self._recorded(host_id, domain, ActivityType.VM_CHANGED, f"NIC {mac} detached")

    async def _note(self, host_id: str, vm_name: str, kind: str, message: str) -> None:
        """Write an activity entry and tell subscribers the host's VMs changed."""
        await self.database.run(
            lambda s: db_activity.add_activity(s, kind, message, host_id=host_id, vm_name=vm_name)
        )
        self.hub.publish(VmsChanged(host_id=host_id))

    async def list_snapshots(self, host_id: str, vm_name: str) -> list[Snapshot]:
        """Return a VM's snapshots as a tree, depth first."""
        return await self.pool.reach(host_id).list_snapshots(vm_name)

    async def create_snapshot(
        self,
        host_id: str,
        vm_name: str,
        name: str | None = None,
        *,
        description: str = "",
        memory: bool | None = None,
    ) -> Snapshot:
        """Take a snapshot of a VM (with its memory by default when it runs); return it."""
        host = self.pool.reach(host_id)
        snapshot = await host.create_snapshot(vm_name, name, description=description, memory=memory)
        await self._note(
            host_id,
            vm_name,
            ActivityType.VM_SNAPSHOT_CREATED,
            f"VM {vm_name}: snapshot {snapshot.name} taken on host {host_id}",
        )
        return snapshot

    async def revert_snapshot(self, host_id: str, vm_name: str, snapshot: str) -> VmRecord:
        """Revert a VM to a snapshot; return the VM's record afterwards."""
        host = self.pool.reach(host_id)
        domain = await host.revert_snapshot(vm_name, snapshot)
        return await self._recorded(
            host_id,
            domain,
            ActivityType.VM_SNAPSHOT_REVERTED,
            f"reverted to snapshot {snapshot}",
        )

    async def delete_snapshot(
        self, host_id: str, vm_name: str, snapshot: str, *, children: bool = False
    ) -> list[str]:
        """Delete a snapshot (and its descendants with ``children``); return their names."""
        host = self.pool.reach(host_id)
        deleted = await host.delete_snapshot(vm_name, snapshot, children=children)
        await self._note(
            host_id,
            vm_name,
            ActivityType.VM_SNAPSHOT_DELETED,
            f"VM {vm_name}: snapshot(s) {', '.join(deleted)} deleted on host {host_id}",
        )
        return deleted

    async def clone_vm(
        self, host_id: str, vm_name: str, name: str, *, full_copy: bool = False
    ) -> Task:
        """Clone a shut-off VM as ``name``, as a task (its result: the clone's record).

        An unknown VM or a name in use is refused at once; the rest happens in the task,
        which fails if the host is lost meanwhile (what it made is removed).
        """
        host = self.pool.reach(host_id)
        source = await host.get_domain(vm_name)
        if source.state is not DomainState.SHUTOFF:
            raise ConflictError(
                f"VM {vm_name!r} is not shut off: shut it down to clone it",
                field="vm_name",
                host_id=host_id,
                vm_name=vm_name,
            )
        with contextlib.suppress(NotFoundError):
            await host.get_domain(name)
            raise ConflictError(f"a VM named {name!r} already exists", field="name")

        def connected() -> None:
            if host.state is not ConnectionState.CONNECTED:
                raise HostUnavailableError(
                    f"host {host_id} was lost during the clone", host_id=host_id, vm_name=name
                )

        async def work(progress: TaskProgress) -> VmRecord:
            progress.checks.append(connected)
            domain = await host.clone_vm(
                vm_name, name, full_copy=full_copy, progress=progress.update
            )
            await self.inventory.refresh_storage(host_id)  # the clone's overlays or copies
            return await self._recorded(
                host_id, domain, ActivityType.VM_CREATED, f"cloned from {vm_name}"
            )

        return self.tasks.submit("clone", work, host_id=host_id, vm_name=name)

    async def delete_vm(
        self,
        host_id: str,
        vm_name: str,
        *,
        delete_storage: bool = False,
        force: bool = False,
    ) -> list[str]:
        """Undefine a VM (``force`` destroys a running one first), its volumes if asked.

        Returns the paths of the volumes deleted. The VM leaves the database at once.
        """
        host = self.pool.reach(host_id)
        domain = await host.get_domain(vm_name)
        deleted = await host.delete_vm(domain.uuid, delete_storage=delete_storage, force=force)
        await self.database.run(db_sync.remove_deleted_vm, host_id, domain.uuid)
        if deleted:
            await self.inventory.refresh_storage(host_id)
        self.hub.publish(VmsChanged(host_id=host_id))
        return deleted

    async def delete_plan(self, host_id: str, vm_name: str) -> DeletePlan:
        """Return what deleting a VM would remove (volumes, NVRAM, snapshots); no change."""
        return await self.pool.get(host_id).delete_plan(vm_name)
