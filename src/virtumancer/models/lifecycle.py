"""Results and choices of the VM lifecycle operations (create, ensure, change, delete)."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from virtumancer.models.domain import Domain
from virtumancer.models.network import Network
from virtumancer.models.snapshot import Snapshot
from virtumancer.models.storage import StorageVolume

__all__ = [
    "DeletePlan",
    "DesiredState",
    "DeviceScope",
    "EnsureNetworkResult",
    "EnsureResult",
    "EnsureSnapshotResult",
    "EnsureVolumeResult",
    "VmChange",
]


class DesiredState(enum.StrEnum):
    """The state :meth:`~virtumancer.pool.HostPool.ensure_vm` brings a VM into."""

    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    ABSENT = "absent"


class DeviceScope(enum.StrEnum):
    """Where a device is attached or detached: the running VM, its definition, or both.

    Leaving it out (``None``) means "as libvirt allows": the running VM and, for a
    persistent one, its definition too; only the definition of a stopped VM.
    """

    LIVE = "live"
    CONFIG = "config"
    BOTH = "both"


@attrs.frozen(kw_only=True)
class EnsureResult:
    """What ``ensure_vm`` found and did (or, in check mode, would do).

    ``diff`` maps each spec field that differs (and ``state``) to its ``(before, after)``
    values; ``before`` is ``None`` for a VM that did not exist, ``after`` ``None`` for one
    that is removed. ``domain`` is the VM afterwards (``None`` when absent, or in check
    mode for a VM that would be created).
    """

    changed: bool
    diff: dict[str, tuple[Any, Any]] = attrs.field(factory=dict)
    domain: Domain | None = None
    check: bool = False


@attrs.frozen(kw_only=True)
class EnsureSnapshotResult:
    """What ``ensure_snapshot`` found and did (or, in check mode, would do).

    ``diff`` is ``{field: (before, after)}`` like :class:`EnsureResult`'s (``state``,
    ``memory``, ``description``); ``snapshot`` is the snapshot afterwards (``None`` when
    absent, or in check mode for one that would be taken).
    """

    changed: bool
    diff: dict[str, tuple[Any, Any]] = attrs.field(factory=dict)
    snapshot: Snapshot | None = None
    check: bool = False


@attrs.frozen(kw_only=True)
class EnsureVolumeResult:
    """What ``ensure_volume`` found and did (or, in check mode, would do).

    ``diff`` is ``{field: (before, after)}`` (``state``, ``capacity_bytes``, ``format``);
    ``volume`` is the volume afterwards (``None`` when absent, or in check mode for one
    that would be created).
    """

    changed: bool
    diff: dict[str, tuple[Any, Any]] = attrs.field(factory=dict)
    volume: StorageVolume | None = None
    check: bool = False


@attrs.frozen(kw_only=True)
class EnsureNetworkResult:
    """What ``ensure_network`` found and did (or, in check mode, would do).

    ``diff`` is ``{field: (before, after)}`` over the :class:`NatNetworkSpec` fields and
    ``state`` (``started``/``stopped``; ``None`` before for a network that did not exist,
    ``absent`` after for one removed). ``network`` is the network afterwards (``None``
    when absent, or in check mode for one that would be defined).
    """

    changed: bool
    diff: dict[str, tuple[Any, Any]] = attrs.field(factory=dict)
    network: Network | None = None
    check: bool = False


@attrs.frozen(kw_only=True)
class VmChange:
    """A change of a VM's definition; fields left ``None`` are kept.

    ``memory_bytes`` and ``vcpus`` apply from the VM's next start when it runs;
    ``description`` and ``autostart`` at once. ``cdrom_media`` maps a CD-ROM's target device
    (``sda``, ``hdc``) to the path of an image to insert, or ``""`` to eject.
    """

    memory_bytes: int | None = None
    vcpus: int | None = None
    description: str | None = None
    autostart: bool | None = None
    cdrom_media: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class DeletePlan:
    """What deleting a VM would remove, worked out without changing anything.

    ``volumes`` are the paths deleted only when storage is deleted too (the volumes of its
    writable disks and its cloud-init seed); ``kept`` are the disk paths kept even then
    (read-only or shareable media, files in no pool). ``nvram`` is the UEFI variables file
    and ``snapshots`` the snapshot names removed with the VM in any case. ``running`` says
    the VM must be forced off first (``force``).
    """

    vm_name: str
    running: bool
    volumes: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    nvram: str | None = None
    snapshots: tuple[str, ...] = ()
