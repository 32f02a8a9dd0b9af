"""What a domain (a virtual machine) is, as its XML and libvirt describe it."""

from __future__ import annotations

import enum

import attrs

from virtumancer.models._display import Displayed
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
from virtumancer.models.status import StatusCategory

__all__ = ["ACTIVE_DOMAIN_STATES", "Domain", "DomainDevices", "DomainState", "domain_status"]


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

    @property
    def status(self) -> StatusCategory:
        """The category this state is shown in (running is active, paused a warning ...)."""
        return _DOMAIN_STATUS[self]


# The one table of what each domain state means to a person.
_DOMAIN_STATUS: dict[DomainState, StatusCategory] = {
    DomainState.NOSTATE: StatusCategory.STOPPED,
    DomainState.RUNNING: StatusCategory.ACTIVE,
    DomainState.BLOCKED: StatusCategory.ACTIVE,
    DomainState.PAUSED: StatusCategory.WARNING,
    DomainState.SHUTDOWN: StatusCategory.WARNING,
    DomainState.SHUTOFF: StatusCategory.STOPPED,
    DomainState.CRASHED: StatusCategory.ERROR,
    DomainState.PMSUSPENDED: StatusCategory.WARNING,
}


def domain_status(state: int) -> StatusCategory:
    """Return the category of a libvirt domain state number; a number libvirt added later
    (unknown to us) is an error, so it gets looked at rather than passing as stopped."""
    try:
        return DomainState(state).status
    except ValueError:
        return StatusCategory.ERROR


#: States in which a domain has a running hypervisor process (libvirt's ``isActive``): it
#: has live counters and graphics servers, and can be shut down, reset or destroyed. These
#: are exactly the active and warning categories (a paused guest keeps its process).
ACTIVE_DOMAIN_STATES: frozenset[DomainState] = frozenset(
    state
    for state in DomainState
    if state.status in {StatusCategory.ACTIVE, StatusCategory.WARNING}
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


@attrs.frozen(kw_only=True, repr=False)
class Domain(Displayed):
    """A domain as its XML describes it.

    ``state``, ``autostart``, ``persistent`` and ``id`` are not in the XML: the parser leaves
    them ``None`` (``id`` comes from ``<domain id=...>`` when running) and the pool fills them
    with :func:`attrs.evolve`. Memory sizes are exact bytes. ``boot_devices`` are the
    ``<os><boot dev=...>`` entries in order; ``firmware`` is ``<os firmware=...>``
    (``"efi"``/``"bios"``) when set, ``loader`` the ``<os><loader>`` path (e.g. OVMF code).
    ``kernel``, ``initrd`` and ``cmdline`` are set for direct kernel boot.
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
    loader: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
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
