"""What a new virtual machine should be: :class:`VmSpec` and its parts.

A spec is pure data, checked when it is built: a bad value raises
:class:`~virtumancer.exceptions.InvalidInputError` whose ``field`` names it. Built in Python,
``field`` is relative to the object being built (``size_bytes`` of a :class:`NewVolume`,
``nics[1].mac`` of a :class:`VmSpec`); structured from JSON (``structure_spec``), it is the
whole JSON path (``disks[1].size_bytes``). What needs a host -- does the pool exist, is the
name free, does the disk fit -- is checked later, by the library operations.

Rules chosen where libvirt is looser:

- **Names** (VM, pool, volume): 1 to 64 characters; no ``/``, no control characters, no
  leading ``-`` or ``.``, no leading or trailing whitespace. libvirt itself accepts almost
  any string for a domain name; these rules keep names safe as file names (volumes are
  named after the VM), as command-line arguments and in URLs.
- **Memory** is a whole number of KiB (libvirt's unit; anything else would be rounded),
  at least 1 MiB and at most 16 TiB. **vCPUs** 1 to 4096.
- **MACs** are six hex octets separated by ``:``, unicast, not all zero; stored lower case.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import re
from collections.abc import Iterable
from typing import Any, Final

import attrs

from virtumancer.models._names import CONTROL_CHARACTERS as _CONTROL
from virtumancer.models._names import (
    MAX_NAME_LENGTH,
    QEMU_MAC_PREFIX,
    check_name,
    generate_mac,
)
from virtumancer.models._names import invalid as _fail
from virtumancer.models.host import GuestCapability, HostCapabilities

__all__ = [
    "MAX_NAME_LENGTH",
    "QEMU_MAC_PREFIX",
    "Accelerator",
    "BootDevice",
    "CloudInitSpec",
    "DiskBus",
    "DiskDevice",
    "DiskSource",
    "DiskSpec",
    "ExistingPath",
    "ExistingVolume",
    "Firmware",
    "GraphicsSpec",
    "GraphicsType",
    "KernelBoot",
    "NewVolume",
    "NicSpec",
    "Overlay",
    "OvmfFirmware",
    "SerialSpec",
    "SerialType",
    "VmSpec",
    "VolumeFormat",
    "check_name",
    "find_ovmf",
    "generate_mac",
    "normalize_mac",
    "resolve_spec_defaults",
]

_KIB: Final = 1024
_MIB: Final = 1024 * _KIB
_MAX_MEMORY: Final = 16 * 1024**4
_MAX_VCPUS: Final = 4096
_MAX_SIZE: Final = 2**63 - 1
_MAC: Final = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
# A model, machine or arch name: what QEMU and libvirt spell these with.
_TOKEN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


# --- enums ------------------------------------------------------------------------------


class Firmware(enum.StrEnum):
    """How the guest boots: legacy BIOS (SeaBIOS) or UEFI (OVMF)."""

    BIOS = "bios"
    UEFI = "uefi"


class Accelerator(enum.StrEnum):
    """What runs the guest's CPU: KVM, or QEMU's TCG emulator where KVM cannot run it."""

    KVM = "kvm"
    TCG = "tcg"

    @property
    def domain_type(self) -> str:
        """The ``<domain type=...>`` libvirt uses for this accelerator."""
        return "kvm" if self is Accelerator.KVM else "qemu"


class VolumeFormat(enum.StrEnum):
    """The format of a disk image."""

    RAW = "raw"
    QCOW2 = "qcow2"


class DiskBus(enum.StrEnum):
    """The bus a disk is attached to in the guest."""

    VIRTIO = "virtio"
    SATA = "sata"
    SCSI = "scsi"
    IDE = "ide"


class DiskDevice(enum.StrEnum):
    """What the guest sees: a disk or a CD-ROM (an ISO image, read-only)."""

    DISK = "disk"
    CDROM = "cdrom"


class BootDevice(enum.StrEnum):
    """A BIOS boot device (``<os><boot dev=...>``)."""

    HD = "hd"
    CDROM = "cdrom"
    NETWORK = "network"


class GraphicsType(enum.StrEnum):
    """The remote console protocol of the guest's display."""

    VNC = "vnc"
    SPICE = "spice"


class SerialType(enum.StrEnum):
    """Where the guest's serial console goes: a pty (``virsh console``) or a log file."""

    PTY = "pty"
    FILE = "file"


# --- checks -----------------------------------------------------------------------------


def normalize_mac(value: str | None) -> str | None:
    """Return ``value`` in lower case (``None`` stays ``None``); checked by the validator."""
    return value.lower() if isinstance(value, str) else value


def _check_mac(value: str, field: str) -> None:
    if not isinstance(value, str) or not _MAC.fullmatch(value):
        raise _fail(field, f"{value!r} is not a MAC address like 52:54:00:12:34:56")
    first = int(value[:2], 16)
    if first & 1:
        raise _fail(field, f"{value!r} is a multicast address; a NIC needs a unicast one")
    if value == "00:00:00:00:00:00":
        raise _fail(field, "the all-zero MAC address is not allowed")


def _name(field: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
        check_name(value, field or attribute.name)

    return check


def _optional_name(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        check_name(value, attribute.name)


def _path(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith("/"):
        raise _fail(attribute.name, "must be an absolute path")
    if _CONTROL.search(value):
        raise _fail(attribute.name, "must not contain control characters")
    if "/../" in f"{value}/":
        raise _fail(attribute.name, "must not contain '..'")


def _size(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(attribute.name, "must be an integer number of bytes")
    if not 0 < value <= _MAX_SIZE:
        raise _fail(attribute.name, f"must be a positive number of bytes, got {value}")


def _token(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not _TOKEN.fullmatch(value)):
        raise _fail(attribute.name, f"{value!r} is not a valid name")


def _member(kind: type[enum.Enum]) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, kind):
            choices = ", ".join(str(member.value) for member in kind)
            raise _fail(
                attribute.name, f"must be a {kind.__name__} (one of {choices}), got {value!r}"
            )

    return check


def _tuple_of(*kinds: type) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, tuple):
            raise _fail(attribute.name, "must be a tuple")
        for index, item in enumerate(value):
            if not isinstance(item, kinds):
                raise _fail(f"{attribute.name}[{index}]", f"unexpected {type(item).__name__}")

    return check


# --- disks ------------------------------------------------------------------------------

#: Field metadata the OpenAPI document shows (``x-unit``): a form knows the number is bytes.
_BYTES: Final = {"openapi": {"x-unit": "bytes"}}


@attrs.frozen(kw_only=True)
class NewVolume:
    """A new, empty volume of ``size_bytes`` in ``pool``.

    ``name`` is the volume's name; ``None`` lets the library name it after the VM
    (``<vm>-disk<N>.<format>``).
    """

    pool: str = attrs.field(validator=_name("pool"))
    size_bytes: int = attrs.field(validator=_size, metadata=_BYTES)
    format: VolumeFormat = attrs.field(default=VolumeFormat.QCOW2, validator=_member(VolumeFormat))
    name: str | None = attrs.field(default=None, validator=_optional_name)
    bus: DiskBus | None = attrs.field(default=None, validator=_member(DiskBus))


@attrs.frozen(kw_only=True)
class ExistingVolume:
    """A volume that already exists in ``pool`` (a disk image, or an ISO as a CD-ROM)."""

    pool: str = attrs.field(validator=_name("pool"))
    volume: str = attrs.field(validator=_name("volume"))
    device: DiskDevice = attrs.field(default=DiskDevice.DISK, validator=_member(DiskDevice))
    bus: DiskBus | None = attrs.field(default=None, validator=_member(DiskBus))


@attrs.frozen(kw_only=True)
class ExistingPath:
    """A file or block device already on the host, by absolute path.

    ``format`` is what the image holds; QEMU is never asked to guess it (a guest could
    write a qcow2 header into a raw disk and read host files through a backing file).
    """

    path: str = attrs.field(validator=_path)
    format: VolumeFormat = attrs.field(default=VolumeFormat.RAW, validator=_member(VolumeFormat))
    device: DiskDevice = attrs.field(default=DiskDevice.DISK, validator=_member(DiskDevice))
    bus: DiskBus | None = attrs.field(default=None, validator=_member(DiskBus))


@attrs.frozen(kw_only=True)
class Overlay:
    """A new qcow2 copy-on-write volume in ``pool`` whose backing file is a base image.

    The base is either ``base_path`` or ``base_pool``/``base_volume``; it is never written.
    ``base_format`` is the base image's format. ``size_bytes`` grows the overlay beyond the
    base's size (``None``: as large as the base).
    """

    pool: str = attrs.field(validator=_name("pool"))
    base_path: str | None = attrs.field(default=None, validator=_path)
    base_pool: str | None = attrs.field(default=None, validator=_optional_name)
    base_volume: str | None = attrs.field(default=None, validator=_optional_name)
    base_format: VolumeFormat = attrs.field(
        default=VolumeFormat.QCOW2, validator=_member(VolumeFormat)
    )
    size_bytes: int | None = attrs.field(default=None, metadata=_BYTES)
    name: str | None = attrs.field(default=None, validator=_optional_name)
    bus: DiskBus | None = attrs.field(default=None, validator=_member(DiskBus))

    @size_bytes.validator
    def _check_size(self, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is not None:
            _size(self, attribute, value)

    def __attrs_post_init__(self) -> None:
        by_path = self.base_path is not None
        by_volume = self.base_pool is not None or self.base_volume is not None
        if by_path == by_volume:
            raise _fail("base_path", "give either base_path or base_pool and base_volume")
        if by_volume and (self.base_pool is None or self.base_volume is None):
            field = "base_pool" if self.base_pool is None else "base_volume"
            raise _fail(field, "base_pool and base_volume go together")

    @property
    def format(self) -> VolumeFormat:
        """An overlay is always qcow2 (the format that records a backing file)."""
        return VolumeFormat.QCOW2


#: One disk of a spec.
DiskSpec = NewVolume | ExistingVolume | ExistingPath | Overlay
_DISK_KINDS: Final = (NewVolume, ExistingVolume, ExistingPath, Overlay)


@attrs.frozen(kw_only=True)
class DiskSource:
    """Where a disk of a spec ended up on the host, as the library resolved it.

    ``path`` is the file (or, with ``block``, the device) the guest's disk reads;
    ``format`` what it holds. Rendering takes these so it never has to ask a pool.
    """

    path: str = attrs.field(validator=_path)
    format: VolumeFormat = attrs.field(default=VolumeFormat.RAW, validator=_member(VolumeFormat))
    block: bool = False


# --- the rest of the hardware -----------------------------------------------------------


@attrs.frozen(kw_only=True)
class NicSpec:
    """A NIC plugged into a libvirt ``network`` or a host ``bridge`` (exactly one).

    ``mac`` ``None`` means "generate one" (:func:`resolve_spec_defaults` does).
    """

    network: str | None = attrs.field(default=None, validator=_optional_name)
    bridge: str | None = attrs.field(default=None, validator=_optional_name)
    model: str = attrs.field(default="virtio", validator=_token)
    mac: str | None = attrs.field(default=None, converter=normalize_mac)

    @mac.validator
    def _validate_mac(self, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None:
            _check_mac(value, attribute.name)

    def __attrs_post_init__(self) -> None:
        if (self.network is None) == (self.bridge is None):
            raise _fail("network", "give exactly one of network or bridge")


def _listen(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _fail(attribute.name, f"{value!r} is not an IP address") from None


@attrs.frozen(kw_only=True)
class GraphicsSpec:
    """A remote display: VNC or SPICE on ``listen`` (an IP address), port chosen by libvirt.

    The default listens on loopback only: the service's console proxy reaches it there.
    """

    type: GraphicsType = attrs.field(default=GraphicsType.VNC, validator=_member(GraphicsType))
    listen: str = attrs.field(default="127.0.0.1", validator=_listen)


@attrs.frozen(kw_only=True)
class KernelBoot:
    """Direct kernel boot: QEMU loads ``kernel`` (and ``initrd``) itself, no bootloader."""

    kernel: str = attrs.field(validator=_path)
    initrd: str | None = attrs.field(default=None, validator=_path)
    cmdline: str = attrs.field(default="")

    @cmdline.validator
    def _check_cmdline(self, attribute: attrs.Attribute[Any], value: str) -> None:
        if not isinstance(value, str) or _CONTROL.search(value):
            raise _fail(attribute.name, "must be text without control characters")


@attrs.frozen(kw_only=True)
class SerialSpec:
    """A serial console on a pty (``virsh console``), or logged to ``log_path`` (file)."""

    type: SerialType = attrs.field(default=SerialType.PTY, validator=_member(SerialType))
    log_path: str | None = attrs.field(default=None, validator=_path)

    def __attrs_post_init__(self) -> None:
        if (self.type is SerialType.FILE) != (self.log_path is not None):
            raise _fail("log_path", "a file serial needs log_path, a pty one takes none")


def _text(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not isinstance(value, str):
        raise _fail(attribute.name, "must be a string")


def _ssh_keys(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple):
        raise _fail(attribute.name, "must be a tuple of strings")
    for index, key in enumerate(value):
        # One key is one line of authorized_keys: "type base64 [comment]".
        if not isinstance(key, str) or len(key.split()) < 2 or _CONTROL.search(key):
            raise _fail(f"{attribute.name}[{index}]", "is not an SSH public key line")


@attrs.frozen(kw_only=True)
class CloudInitSpec:
    """A cloud-init NoCloud seed, attached to the guest as a small ISO (label ``cidata``).

    ``user_data`` and ``meta_data`` are documents passed through verbatim. Without
    ``user_data`` a ``#cloud-config`` document is written holding ``ssh_authorized_keys``
    (keys cannot be merged into a document of the caller's, so giving both is refused).
    Without ``meta_data`` one is written from ``instance_id`` and ``hostname`` (both default
    to the VM's name, see :func:`resolve_spec_defaults`).
    """

    user_data: str | None = attrs.field(default=None, validator=_text)
    meta_data: str | None = attrs.field(default=None, validator=_text)
    ssh_authorized_keys: tuple[str, ...] = attrs.field(default=(), validator=_ssh_keys)
    instance_id: str | None = attrs.field(default=None, validator=_optional_name)
    hostname: str | None = attrs.field(default=None, validator=_optional_name)

    def __attrs_post_init__(self) -> None:
        if self.user_data is not None and self.ssh_authorized_keys:
            raise _fail(
                "ssh_authorized_keys",
                "give SSH keys inside your own user_data, or leave user_data out",
            )


# --- the spec ---------------------------------------------------------------------------


def _memory(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(attribute.name, "must be an integer number of bytes")
    if not _MIB <= value <= _MAX_MEMORY:
        raise _fail(attribute.name, f"must be between 1 MiB and 16 TiB, got {value}")
    if value % _KIB:
        raise _fail(attribute.name, "must be a whole number of KiB")


def _vcpus(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_VCPUS:
        raise _fail(attribute.name, f"must be between 1 and {_MAX_VCPUS}, got {value!r}")


def _optional(kind: type) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, kind):
            raise _fail(attribute.name, f"must be a {kind.__name__}")

    return check


@attrs.frozen(kw_only=True)
class VmSpec:
    """Everything needed to create a virtual machine.

    ``arch``, ``machine``, ``accelerator`` and ``video`` left ``None`` are filled from the
    host by :func:`resolve_spec_defaults`, as are NIC MACs. ``firmware_loader`` and
    ``firmware_vars`` are the OVMF code and variable-template paths for UEFI (found on the
    host when ``None``). ``boot_order`` applies to BIOS boot devices; ``kernel_boot`` boots a
    kernel directly. ``video`` is a QEMU video model (``virtio``, ``qxl``, ``vga`` ...).
    """

    name: str = attrs.field(validator=_name("name"))
    memory_bytes: int = attrs.field(validator=_memory, metadata=_BYTES)
    vcpus: int = attrs.field(default=1, validator=_vcpus)
    arch: str | None = attrs.field(default=None, validator=_token)
    machine: str | None = attrs.field(default=None, validator=_token)
    accelerator: Accelerator | None = attrs.field(default=None, validator=_member(Accelerator))
    firmware: Firmware = attrs.field(default=Firmware.BIOS, validator=_member(Firmware))
    firmware_loader: str | None = attrs.field(default=None, validator=_path)
    firmware_vars: str | None = attrs.field(default=None, validator=_path)
    disks: tuple[DiskSpec, ...] = attrs.field(default=(), validator=_tuple_of(*_DISK_KINDS))
    nics: tuple[NicSpec, ...] = attrs.field(default=(), validator=_tuple_of(NicSpec))
    graphics: GraphicsSpec | None = attrs.field(
        default=GraphicsSpec(), validator=_optional(GraphicsSpec)
    )
    video: str | None = attrs.field(default=None, validator=_token)
    boot_order: tuple[BootDevice, ...] = attrs.field(
        default=(BootDevice.HD,), validator=_tuple_of(BootDevice)
    )
    kernel_boot: KernelBoot | None = attrs.field(default=None, validator=_optional(KernelBoot))
    serial: SerialSpec | None = attrs.field(default=SerialSpec(), validator=_optional(SerialSpec))
    cloud_init: CloudInitSpec | None = attrs.field(default=None, validator=_optional(CloudInitSpec))
    description: str = attrs.field(default="")

    @description.validator
    def _check_description(self, attribute: attrs.Attribute[Any], value: str) -> None:
        # XML 1.0 cannot carry most control characters; tab and newline are fine.
        if not isinstance(value, str) or re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
            raise _fail(attribute.name, "must be text without control characters")
        if len(value) > 4096:
            raise _fail(attribute.name, "is longer than 4096 characters")

    def __attrs_post_init__(self) -> None:
        if len(set(self.boot_order)) != len(self.boot_order):
            raise _fail("boot_order", "lists a device twice")
        if self.firmware is Firmware.BIOS:
            for field in ("firmware_loader", "firmware_vars"):
                if getattr(self, field) is not None:
                    raise _fail(field, "is for UEFI firmware only")
        seen: set[str] = set()
        for index, nic in enumerate(self.nics):
            if nic.mac is not None:
                if nic.mac in seen:
                    raise _fail(f"nics[{index}].mac", f"{nic.mac} is used by another NIC")
                seen.add(nic.mac)


# --- OVMF -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OvmfFirmware:
    """An OVMF (UEFI) build on a host: the code image and its variable-store template."""

    loader: str
    vars_template: str


# Code images we know a variables template for, best first (Debian's ovmf package, Fedora's
# edk2-ovmf, and the 2 MiB/4 MiB variants). Secure-boot builds come last: they need SMM,
# which we do not turn on by default.
_OVMF_PAIRS: Final = (
    ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
    ("OVMF_CODE.fd", "OVMF_VARS.fd"),
    ("OVMF_CODE.secboot.fd", "OVMF_VARS.fd"),
    ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.fd"),
)


def find_ovmf(paths: Iterable[str]) -> OvmfFirmware | None:
    """Pick an OVMF code image and its vars template among ``paths`` (files on a host).

    Pure: the library lists the firmware directories (e.g. ``/usr/share/OVMF``) and passes
    the absolute paths. ``None`` if no known pair is there, both in the same directory.
    """
    by_dir: dict[str, set[str]] = {}
    for path in paths:
        directory, _, name = path.rpartition("/")
        by_dir.setdefault(directory, set()).add(name)
    for code, variables in _OVMF_PAIRS:
        for directory in sorted(by_dir):
            names = by_dir[directory]
            if code in names and variables in names:
                return OvmfFirmware(
                    loader=f"{directory}/{code}", vars_template=f"{directory}/{variables}"
                )
    return None


# --- defaults from the host -------------------------------------------------------------


def _guest(capabilities: HostCapabilities, arch: str) -> GuestCapability | None:
    for guest in capabilities.guests:
        if guest.os_type == "hvm" and guest.arch == arch:
            return guest
    return None


def _machine(guest: GuestCapability) -> str:
    # The capabilities list the aliases ("q35", "pc") next to the versioned names; an alias
    # follows QEMU to its newest version of that machine.
    for machine in ("q35", "pc"):
        if machine in guest.machines:
            return machine
    return "pc"


def resolve_spec_defaults(
    spec: VmSpec,
    capabilities: HostCapabilities,
    *,
    firmware_files: Iterable[str] = (),
    rng: random.Random | None = None,
) -> VmSpec:
    """Return ``spec`` with what it left open filled in for a host.

    - ``arch``: the host's; it must have an ``hvm`` guest in ``capabilities``.
    - ``machine``: ``q35`` when the capabilities list it for that arch, else ``pc``.
    - ``accelerator``: KVM when the arch lists a ``kvm`` domain type, else TCG; asking for
      KVM where it is not listed is refused.
    - UEFI: ``firmware_loader``/``firmware_vars`` from :func:`find_ovmf` over
      ``firmware_files`` (the library lists the host's firmware files); refused when none.
    - ``video``: ``virtio`` when there is a display.
    - NICs without a MAC get one from :func:`generate_mac` (``rng``, default
      :class:`random.SystemRandom`).
    - cloud-init ``instance_id`` and ``hostname``: the VM's name.

    Raise :class:`InvalidInputError` naming the field the host cannot satisfy.
    """
    arch = spec.arch or capabilities.arch
    guest = _guest(capabilities, arch)
    if guest is None:
        raise _fail("arch", f"the host cannot run {arch!r} guests")
    machine = spec.machine or _machine(guest)
    has_kvm = "kvm" in guest.domain_types
    accelerator = spec.accelerator
    if accelerator is None:
        accelerator = Accelerator.KVM if has_kvm else Accelerator.TCG
    elif accelerator is Accelerator.KVM and not has_kvm:
        raise _fail("accelerator", f"KVM is not available for {arch} guests on this host")
    loader, variables = spec.firmware_loader, spec.firmware_vars
    if spec.firmware is Firmware.UEFI and loader is None:
        found = find_ovmf(firmware_files)
        if found is None:
            raise _fail("firmware", "UEFI was asked for but no OVMF firmware is installed")
        loader, variables = found.loader, variables or found.vars_template
    video = spec.video
    if video is None and spec.graphics is not None:
        video = "virtio"
    generator = rng if rng is not None else random.SystemRandom()
    taken = [nic.mac for nic in spec.nics if nic.mac is not None]
    nics = []
    for nic in spec.nics:
        if nic.mac is None:
            mac = generate_mac(generator, taken=taken)
            taken.append(mac)
            nic = attrs.evolve(nic, mac=mac)
        nics.append(nic)
    cloud_init = spec.cloud_init
    if cloud_init is not None:
        cloud_init = attrs.evolve(
            cloud_init,
            instance_id=cloud_init.instance_id or spec.name,
            hostname=cloud_init.hostname or spec.name,
        )
    return attrs.evolve(
        spec,
        arch=arch,
        machine=machine,
        accelerator=accelerator,
        firmware_loader=loader,
        firmware_vars=variables,
        video=video,
        nics=tuple(nics),
        cloud_init=cloud_init,
    )
