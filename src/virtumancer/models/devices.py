"""Devices of a domain: disks, interfaces, graphics, video, host devices, controllers."""

from __future__ import annotations

import attrs

__all__ = [
    "Controller",
    "Disk",
    "Graphics",
    "HostDevice",
    "Interface",
    "PciAddress",
    "Video",
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

    Only whether a password is set is kept, never the password itself.
    """

    type: str
    port: int | None = None
    tls_port: int | None = None
    autoport: bool = False
    listen: str | None = None
    has_password: bool = False


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
