"""Devices of a domain: disks, interfaces, graphics, video, host devices, controllers."""

from __future__ import annotations

import attrs

__all__ = [
    "CharDevice",
    "Controller",
    "Disk",
    "Filesystem",
    "Graphics",
    "HostDevice",
    "Input",
    "Interface",
    "PciAddress",
    "Rng",
    "Sound",
    "Tpm",
    "Video",
    "Watchdog",
]


@attrs.frozen(kw_only=True)
class PciAddress:
    """A PCI address; ``str()`` gives the usual ``0000:00:02.0`` form."""

    domain: int = 0
    bus: int
    slot: int
    function: int

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"


@attrs.frozen(kw_only=True)
class Disk:
    """A ``<disk>``: a file, block device, volume or network source seen by the guest.

    ``source_path`` is ``source/@file`` or ``source/@dev``; ``size_bytes`` is not in the
    domain XML and is filled by whoever knows it (a volume lookup).
    """

    type: str
    device: str = "disk"
    driver_name: str | None = None
    driver_type: str | None = None
    source_path: str | None = None
    source_pool: str | None = None
    source_volume: str | None = None
    source_protocol: str | None = None
    source_name: str | None = None
    target_dev: str
    target_bus: str | None = None
    read_only: bool = False
    shareable: bool = False
    serial: str | None = None
    size_bytes: int | None = None


@attrs.frozen(kw_only=True)
class Interface:
    """An ``<interface>``: a guest NIC and what it is plugged into."""

    type: str
    mac: str | None = None
    source_network: str | None = None
    source_bridge: str | None = None
    source_portgroup: str | None = None
    source_dev: str | None = None
    model: str | None = None
    target_dev: str | None = None
    vlan_tags: tuple[int, ...] = ()
    alias: str | None = None


@attrs.frozen(kw_only=True)
class Graphics:
    """A ``<graphics>`` console (VNC, SPICE ...).

    ``listen`` is the listen address; ``socket_path`` the UNIX socket when the server
    listens on one (``<listen type='socket'>``). Only whether a password is set is kept,
    never the password itself -- and libvirt shows ``passwd`` only in XML fetched with
    ``VIR_DOMAIN_XML_SECURE``, so ``has_password`` is ``False`` for other XML.
    """

    type: str
    port: int | None = None
    tls_port: int | None = None
    autoport: bool = False
    listen: str | None = None
    has_password: bool = False
    socket_path: str | None = None


@attrs.frozen(kw_only=True)
class Video:
    """A ``<video>`` adapter; ``vram_kib`` is in KiB as libvirt writes it."""

    model: str
    vram_kib: int | None = None
    heads: int | None = None
    accel3d: bool = False
    primary: bool = False


@attrs.frozen(kw_only=True)
class HostDevice:
    """A ``<hostdev>`` passed through to the guest (PCI address when PCI)."""

    mode: str = "subsystem"
    type: str
    managed: bool = False
    pci_address: PciAddress | None = None


@attrs.frozen(kw_only=True)
class Controller:
    """A ``<controller>`` (usb, pci, sata, virtio-serial ...)."""

    type: str
    index: int | None = None
    model: str | None = None


@attrs.frozen(kw_only=True)
class Input:
    """An ``<input>`` device (tablet, mouse, keyboard)."""

    type: str
    bus: str | None = None


@attrs.frozen(kw_only=True)
class Sound:
    """A ``<sound>`` card."""

    model: str


@attrs.frozen(kw_only=True)
class CharDevice:
    """A character device: ``<serial>``, ``<console>``, ``<parallel>`` or ``<channel>``.

    ``kind`` is the element name; ``type`` its host side (``pty``, ``unix``, ``spicevmc``
    ...); ``target_name`` is a channel's name (``org.qemu.guest_agent.0``).
    """

    kind: str
    type: str
    target_type: str | None = None
    target_port: int | None = None
    target_name: str | None = None


@attrs.frozen(kw_only=True)
class Filesystem:
    """A ``<filesystem>`` shared from the host (virtiofs, 9p ...)."""

    type: str = "mount"
    driver_type: str | None = None
    source_dir: str | None = None
    target_dir: str | None = None
    read_only: bool = False


@attrs.frozen(kw_only=True)
class Rng:
    """An ``<rng>`` (random number generator) device."""

    model: str
    backend_model: str | None = None
    backend_source: str | None = None


@attrs.frozen(kw_only=True)
class Tpm:
    """A ``<tpm>`` device."""

    model: str | None = None
    backend_type: str | None = None
    backend_version: str | None = None


@attrs.frozen(kw_only=True)
class Watchdog:
    """A ``<watchdog>`` device."""

    model: str
    action: str | None = None
