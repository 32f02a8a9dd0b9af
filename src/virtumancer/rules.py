"""Business rules, pure: who owns a VM, which changes earn an activity entry, NIC names.

No I/O: the inventory service and the repositories that apply sync plans call these, and
``tests/unit/test_rules.py`` checks them without a database or a hypervisor.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtumancer.models.activity import ActivityType
from virtumancer.models.devices import Disk, Interface
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.events import ConnectionState

__all__ = [
    "MANAGED_BY",
    "disk_path",
    "host_state_activity",
    "is_managed_by_us",
    "nic_names",
    "state_activity",
]

#: ``managed_by`` value of the provenance we write into a domain's ``<metadata>``.
MANAGED_BY = "virtumancer"

_STATE_ACTIVITY = {
    DomainState.RUNNING: (ActivityType.VM_STARTED, "started"),
    DomainState.PAUSED: (ActivityType.VM_SUSPENDED, "suspended"),
    DomainState.PMSUSPENDED: (ActivityType.VM_SUSPENDED, "suspended"),
    DomainState.SHUTOFF: (ActivityType.VM_STOPPED, "stopped"),
    DomainState.SHUTDOWN: (ActivityType.VM_STOPPED, "stopped"),
    DomainState.CRASHED: (ActivityType.VM_CRASHED, "crashed"),
}
_RUNNING_LIKE = {DomainState.RUNNING, DomainState.BLOCKED}
_SUSPENDED = {DomainState.PAUSED, DomainState.PMSUSPENDED}
_OFF = {DomainState.SHUTOFF, DomainState.SHUTDOWN}


def is_managed_by_us(domain: Domain) -> bool:
    """Return whether a domain's ``<metadata>`` carries our provenance (we manage it)."""
    return domain.metadata is not None and domain.metadata.managed_by == MANAGED_BY


def state_activity(old: int, new: int, hint: str | None) -> tuple[str, str] | None:
    """Return the (activity type, verb) of a VM state change worth an entry, else ``None``.

    Moves within one family (running/blocked, paused/suspended, shut off/shutting down) are
    not worth one. ``hint`` is what the caller learnt from libvirt's event: a crash hint
    turns a stop into ``vm_crashed``.
    """
    if old == new:
        return None
    if new in _RUNNING_LIKE and old in _RUNNING_LIKE:
        return None
    if new in _RUNNING_LIKE and old in _SUSPENDED:
        return ActivityType.VM_RESUMED, "resumed"
    if new in _SUSPENDED and old in _SUSPENDED:
        return None
    if new in _OFF and old in _OFF:
        return None
    if hint == ActivityType.VM_CRASHED and new in (DomainState.SHUTOFF, DomainState.CRASHED):
        return ActivityType.VM_CRASHED, "crashed"
    key = DomainState.RUNNING if new == DomainState.BLOCKED else new
    try:
        return _STATE_ACTIVITY[DomainState(key)]
    except (KeyError, ValueError):
        return None


def host_state_activity(
    host_id: str,
    previous: ConnectionState | None,
    state: ConnectionState,
    error: str | None,
) -> tuple[str, str] | None:
    """Return the (activity type, message) a host's connection change earns, else ``None``.

    Every connect does; a disconnect only after a state was seen (not the first report of a
    host restored disconnected); an error only when it ends a connection (not each failed
    retry).
    """
    if state is ConnectionState.CONNECTED:
        return ActivityType.HOST_CONNECTED, f"Host {host_id} connected"
    if state is ConnectionState.DISCONNECTED and previous is not None:
        return ActivityType.HOST_DISCONNECTED, f"Host {host_id} disconnected"
    if state is ConnectionState.ERROR and previous is ConnectionState.CONNECTED:
        detail = f": {error}" if error else ""
        return ActivityType.HOST_LOST, f"Connection to host {host_id} lost{detail}"
    return None


def disk_path(disk: Disk) -> str | None:
    """Return what identifies a disk's storage: its path, ``pool/volume``, or network name."""
    if disk.source_path:
        return str(disk.source_path)
    if disk.source_pool and disk.source_volume:
        return f"{disk.source_pool}/{disk.source_volume}"
    return str(disk.source_name) if disk.source_name else None


def nic_names(interfaces: Sequence[Interface]) -> dict[str, Interface]:
    """Name a domain's NICs ``eth0``, ``eth1`` ... by their place in the XML.

    The target device (``vnet3``) changes on every start, so ports are keyed by this stable
    name. A NIC without a MAC, or repeating an earlier NIC's MAC, gets no name (its place
    is still counted, so the names of the others do not shift).
    """
    named: dict[str, Interface] = {}
    seen_macs: set[str] = set()
    for index, interface in enumerate(interfaces):
        mac = interface.mac.lower() if interface.mac else None
        if mac is None or mac in seen_macs:
            continue
        seen_macs.add(mac)
        named[f"eth{index}"] = interface
    return named
