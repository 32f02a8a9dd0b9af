"""VMs: the fresh hardware view and power actions, each re-reading the domain once."""

from __future__ import annotations

from virtumancer.exceptions import InvalidInputError
from virtumancer.models.domain import DomainDevices
from virtumancer.models.events import PowerAction
from virtumancer.models.notifications import VmsChanged
from virtumancer.pool import ConnectionPool
from virtumancer.services.inventory import InventoryService
from virtumancer.services.notifications import NotificationHub

__all__ = ["VM_ACTIONS", "VmService"]

#: The power actions the API offers (``suspend``/``resume`` are extras of the SDK).
VM_ACTIONS = tuple(action.value for action in PowerAction)


class VmService:
    """Reads and power actions on one domain of a host; writes go to the database only."""

    def __init__(
        self, pool: ConnectionPool, inventory: InventoryService, hub: NotificationHub
    ) -> None:
        self.pool = pool
        self.inventory = inventory
        self.hub = hub

    def __repr__(self) -> str:
        return f"<VmService {self.pool!r}>"

    async def hardware(self, host_id: str, vm_name: str) -> DomainDevices:
        """Re-read a VM from libvirt once, write it, and return its devices (sizes filled).

        Writes only the database, never libvirt. ``size_bytes`` comes from the host's pool
        volumes, else from libvirt's block info (a file or block device in no pool).
        """
        self.pool.reach(host_id)  # NotFoundError for an unknown host before any query
        domain = await self.inventory.read_domain(host_id, vm_name, disk_sizes=True)
        return domain.devices

    async def action(self, host_id: str, vm_name: str, action: str) -> None:
        """Apply a power action (start, shutdown, reboot, destroy, reset, suspend, resume).

        :class:`InvalidInputError` (``field="action"``) for anything else,
        :class:`ConflictError` when the VM's state does not allow it.
        """
        if action not in VM_ACTIONS:
            raise InvalidInputError(
                f"unknown action {action!r} (one of {', '.join(VM_ACTIONS)})",
                field="action",
                host_id=host_id,
                vm_name=vm_name,
            )
        host = self.pool.reach(host_id)
        domain = await host.get_domain(vm_name)
        self.inventory.expect_change(host_id, domain.uuid)
        try:
            await host.power(domain.uuid, PowerAction(action))
        except BaseException:
            self.inventory.drop_claim(host_id, domain.uuid)
            raise
        # The event will follow; write the new state now so the caller's next read sees it.
        # (A reboot keeps the state: its activity entry comes from libvirt's reboot event.)
        await self.inventory.reread_domain(host_id, domain.uuid)
        self.hub.publish(VmsChanged(host_id=host_id))
