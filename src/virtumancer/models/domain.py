"""What a domain (a virtual machine) is, as its XML and libvirt describe it."""

from __future__ import annotations

import enum

import attrs

from virtumancer.models.devices import (
    CharDevice,
    Controller,
    Disk,
    Filesystem,
    Graphics,
    HostDevice,
    Input,
    Interface,
    Rng,
    Sound,
    Tpm,
    Video,
    Watchdog,
)
from virtumancer.models.metadata import VirtumancerMetadata

__all__ = ["Domain", "DomainDevices", "DomainState"]


class DomainState(enum.IntEnum):
    """A domain's state, with libvirt's ``VIR_DOMAIN_*`` numbers."""

    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7


#: States in which a domain has a running hypervisor process (libvirt's ``isActive``): it
#: has live counters and graphics servers, and can be shut down, reset or destroyed.
ACTIVE_DOMAIN_STATES: frozenset[DomainState] = frozenset(
    {
        DomainState.RUNNING,
        DomainState.BLOCKED,
        DomainState.PAUSED,
        DomainState.SHUTDOWN,
        DomainState.PMSUSPENDED,
    }
)


@attrs.frozen(kw_only=True)
class DomainDevices:
    """The devices of a domain that a manager shows as "hardware".

    ``chardevs`` holds serials, consoles, parallels and channels in document order;
    ``memballoon`` is the balloon's model (``"none"`` when disabled); ``emulator`` the
    ``<emulator>`` path.
    """

    disks: tuple[Disk, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    graphics: tuple[Graphics, ...] = ()
    videos: tuple[Video, ...] = ()
    hostdevs: tuple[HostDevice, ...] = ()
    controllers: tuple[Controller, ...] = ()
    inputs: tuple[Input, ...] = ()
    sounds: tuple[Sound, ...] = ()
    chardevs: tuple[CharDevice, ...] = ()
    filesystems: tuple[Filesystem, ...] = ()
    rngs: tuple[Rng, ...] = ()
    tpms: tuple[Tpm, ...] = ()
    watchdogs: tuple[Watchdog, ...] = ()
    memballoon: str | None = None
    emulator: str | None = None


@attrs.frozen(kw_only=True)
class Domain:
    """A domain as its XML describes it.

    ``state``, ``autostart``, ``persistent`` and ``id`` are not in the XML: the parser leaves
    them ``None`` (``id`` comes from ``<domain id=...>`` when running) and the pool fills them
    with :func:`attrs.evolve`. Memory sizes are exact bytes. ``boot_devices`` are the
    ``<os><boot dev=...>`` entries in order; ``firmware`` is ``<os firmware=...>``
    (``"efi"``/``"bios"``) when set.
    """

    uuid: str
    name: str
    title: str = ""
    description: str = ""
    domain_type: str
    vcpus: int
    current_vcpus: int | None = None
    memory_bytes: int
    current_memory_bytes: int
    os_type: str
    arch: str | None = None
    machine: str | None = None
    firmware: str | None = None
    boot_devices: tuple[str, ...] = ()
    cpu_mode: str | None = None
    cpu_model: str | None = None
    on_poweroff: str | None = None
    on_reboot: str | None = None
    on_crash: str | None = None
    devices: DomainDevices = DomainDevices()
    metadata: VirtumancerMetadata | None = None
    state: DomainState | None = None
    autostart: bool | None = None
    persistent: bool | None = None
    id: int | None = None
