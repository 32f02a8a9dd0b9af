"""Parse and render a domain's ``<devices>`` children."""

from __future__ import annotations

from lxml import etree

from virtumancer._xml._parser import attr_bool, attr_int, child_text, parse_xml
from virtumancer.models.devices import (
    Controller,
    Disk,
    Graphics,
    HostDevice,
    Interface,
    PciAddress,
    Video,
)
from virtumancer.models.domain import DomainDevices

__all__ = [
    "disk_from_element",
    "parse_devices",
    "parse_disk",
    "parse_graphics",
    "parse_hostdev",
    "parse_interface",
    "parse_video",
    "render_controller",
    "render_disk",
    "render_graphics",
    "render_hostdev",
    "render_interface",
    "render_video",
]

# The attribute of <source> that holds a disk's path, by disk type.
_SOURCE_PATH_ATTR = {"block": "dev", "dir": "dir"}


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _set(element: etree._Element, name: str, value: object) -> None:
    if value is not None:
        element.set(name, str(value))


# --- disks ------------------------------------------------------------------------------


def disk_from_element(element: etree._Element) -> Disk:
    """Read a ``<disk>`` element."""
    driver = element.find("driver")
    source = element.find("source")
    target = element.find("target")
    source_path = None
    if source is not None:
        source_path = source.get("file") or source.get("dev") or source.get("dir")
    return Disk(
        type=element.get("type") or "file",
        device=element.get("device") or "disk",
        driver_name=None if driver is None else driver.get("name"),
        driver_type=None if driver is None else driver.get("type"),
        source_path=source_path,
        source_pool=None if source is None else source.get("pool"),
        source_volume=None if source is None else source.get("volume"),
        source_protocol=None if source is None else source.get("protocol"),
        source_name=None if source is None else source.get("name"),
        target_dev=("" if target is None else target.get("dev")) or "",
        target_bus=None if target is None else target.get("bus"),
        read_only=element.find("readonly") is not None,
        shareable=element.find("shareable") is not None,
        serial=child_text(element, "serial"),
    )


def disk_element(disk: Disk) -> etree._Element:
    """Build the ``<disk>`` element of ``disk`` (``size_bytes`` is not part of the XML)."""
    element = etree.Element("disk", type=disk.type, device=disk.device)
    if disk.driver_name is not None or disk.driver_type is not None:
        driver = etree.SubElement(element, "driver")
        _set(driver, "name", disk.driver_name)
        _set(driver, "type", disk.driver_type)
    source_attrs = {
        _SOURCE_PATH_ATTR.get(disk.type, "file"): disk.source_path,
        "pool": disk.source_pool,
        "volume": disk.source_volume,
        "protocol": disk.source_protocol,
        "name": disk.source_name,
    }
    if any(value is not None for value in source_attrs.values()):
        source = etree.SubElement(element, "source")
        for name, value in source_attrs.items():
            _set(source, name, value)
    target = etree.SubElement(element, "target", dev=disk.target_dev)
    _set(target, "bus", disk.target_bus)
    if disk.read_only:
        etree.SubElement(element, "readonly")
    if disk.shareable:
        etree.SubElement(element, "shareable")
    if disk.serial is not None:
        etree.SubElement(element, "serial").text = disk.serial
    return element


def parse_disk(xml: bytes | str) -> Disk:
    """Parse one ``<disk>`` document (as ``virsh attach-device`` takes it)."""
    return disk_from_element(parse_xml(xml))


def render_disk(disk: Disk) -> bytes:
    """Render ``disk`` as a ``<disk>`` document for attach/update-device."""
    return etree.tostring(disk_element(disk))


# --- interfaces -------------------------------------------------------------------------


def interface_from_element(element: etree._Element) -> Interface:
    """Read an ``<interface>`` element."""
    mac = element.find("mac")
    source = element.find("source")
    model = element.find("model")
    target = element.find("target")
    alias = element.find("alias")
    tags: list[int] = []
    vlan = element.find("vlan")
    if vlan is not None:
        for tag in vlan.iterfind("tag"):
            number = attr_int(tag.get("id"))
            if number is not None:
                tags.append(number)
    return Interface(
        type=element.get("type") or "network",
        mac=None if mac is None else mac.get("address"),
        source_network=None if source is None else source.get("network"),
        source_bridge=None if source is None else source.get("bridge"),
        source_portgroup=None if source is None else source.get("portgroup"),
        source_dev=None if source is None else source.get("dev"),
        model=None if model is None else model.get("type"),
        target_dev=None if target is None else target.get("dev"),
        vlan_tags=tuple(tags),
        alias=None if alias is None else alias.get("name"),
    )


def interface_element(interface: Interface) -> etree._Element:
    """Build the ``<interface>`` element of ``interface``."""
    element = etree.Element("interface", type=interface.type)
    if interface.mac is not None:
        etree.SubElement(element, "mac", address=interface.mac)
    source_attrs = {
        "network": interface.source_network,
        "bridge": interface.source_bridge,
        "portgroup": interface.source_portgroup,
        "dev": interface.source_dev,
    }
    if any(value is not None for value in source_attrs.values()):
        source = etree.SubElement(element, "source")
        for name, value in source_attrs.items():
            _set(source, name, value)
    if interface.vlan_tags:
        vlan = etree.SubElement(element, "vlan")
        if len(interface.vlan_tags) > 1:
            vlan.set("trunk", "yes")
        for tag in interface.vlan_tags:
            etree.SubElement(vlan, "tag", id=str(tag))
    if interface.target_dev is not None:
        etree.SubElement(element, "target", dev=interface.target_dev)
    if interface.model is not None:
        etree.SubElement(element, "model", type=interface.model)
    if interface.alias is not None:
        etree.SubElement(element, "alias", name=interface.alias)
    return element


def parse_interface(xml: bytes | str) -> Interface:
    """Parse one ``<interface>`` document."""
    return interface_from_element(parse_xml(xml))


def render_interface(interface: Interface) -> bytes:
    """Render ``interface`` as an ``<interface>`` document."""
    return etree.tostring(interface_element(interface))


# --- graphics ---------------------------------------------------------------------------


def _port(value: str | None) -> int | None:
    number = attr_int(value)
    # libvirt writes port='-1' for "not allocated yet" (autoport, inactive XML).
    return None if number is None or number < 0 else number


def graphics_from_element(element: etree._Element) -> Graphics:
    """Read a ``<graphics>`` element; the password value is never kept."""
    listen = element.get("listen")
    if listen is None:
        for child in element.iterfind("listen"):
            if child.get("address") is not None:
                listen = child.get("address")
                break
    return Graphics(
        type=element.get("type") or "vnc",
        port=_port(element.get("port")),
        tls_port=_port(element.get("tlsPort")),
        autoport=attr_bool(element.get("autoport")),
        listen=listen,
        has_password=element.get("passwd") is not None,
    )


def graphics_element(graphics: Graphics, *, password: str | None = None) -> etree._Element:
    """Build a ``<graphics>`` element; ``password`` is written only if given."""
    element = etree.Element("graphics", type=graphics.type)
    _set(element, "port", graphics.port)
    _set(element, "tlsPort", graphics.tls_port)
    element.set("autoport", _yes(graphics.autoport))
    _set(element, "listen", graphics.listen)
    if password is not None:
        element.set("passwd", password)
    if graphics.listen is not None:
        etree.SubElement(element, "listen", type="address", address=graphics.listen)
    return element


def parse_graphics(xml: bytes | str) -> Graphics:
    """Parse one ``<graphics>`` document."""
    return graphics_from_element(parse_xml(xml))


def render_graphics(graphics: Graphics, *, password: str | None = None) -> bytes:
    """Render ``graphics``; the model holds no password, so pass ``password`` to set one.

    A model with ``has_password`` and no ``password`` renders without ``passwd`` (libvirt's
    update-device then keeps the existing one only if told to; callers changing graphics of
    a password-protected console must pass it).
    """
    return etree.tostring(graphics_element(graphics, password=password))


# --- video ------------------------------------------------------------------------------


def video_from_element(element: etree._Element) -> Video:
    """Read a ``<video>`` element."""
    model = element.find("model")
    if model is None:
        return Video(model="default")
    acceleration = model.find("acceleration")
    return Video(
        model=model.get("type") or "default",
        vram_kib=attr_int(model.get("vram")),
        heads=attr_int(model.get("heads")),
        accel3d=acceleration is not None and attr_bool(acceleration.get("accel3d")),
        primary=attr_bool(model.get("primary")),
    )


def video_element(video: Video) -> etree._Element:
    """Build the ``<video>`` element of ``video``."""
    element = etree.Element("video")
    model = etree.SubElement(element, "model", type=video.model)
    _set(model, "vram", video.vram_kib)
    _set(model, "heads", video.heads)
    if video.primary:
        model.set("primary", "yes")
    if video.accel3d:
        etree.SubElement(model, "acceleration", accel3d="yes")
    return element


def parse_video(xml: bytes | str) -> Video:
    """Parse one ``<video>`` document."""
    return video_from_element(parse_xml(xml))


def render_video(video: Video) -> bytes:
    """Render ``video`` as a ``<video>`` document."""
    return etree.tostring(video_element(video))


# --- host devices -----------------------------------------------------------------------


def pci_address_from_element(element: etree._Element | None) -> PciAddress | None:
    """Read an ``<address domain=... bus=... slot=... function=...>`` element."""
    if element is None:
        return None
    bus = attr_int(element.get("bus"), 0)
    slot = attr_int(element.get("slot"), 0)
    function = attr_int(element.get("function"), 0)
    if bus is None or slot is None or function is None:
        return None
    return PciAddress(
        domain=attr_int(element.get("domain"), 0) or 0, bus=bus, slot=slot, function=function
    )


def hostdev_from_element(element: etree._Element) -> HostDevice:
    """Read a ``<hostdev>`` element."""
    address = None
    source = element.find("source")
    if source is not None:
        address = pci_address_from_element(source.find("address"))
    return HostDevice(
        mode=element.get("mode") or "subsystem",
        type=element.get("type") or "pci",
        managed=attr_bool(element.get("managed")),
        pci_address=address,
    )


def hostdev_element(hostdev: HostDevice) -> etree._Element:
    """Build the ``<hostdev>`` element of ``hostdev``."""
    element = etree.Element(
        "hostdev", mode=hostdev.mode, type=hostdev.type, managed=_yes(hostdev.managed)
    )
    source = etree.SubElement(element, "source")
    address = hostdev.pci_address
    if address is not None:
        etree.SubElement(
            source,
            "address",
            domain=f"0x{address.domain:04x}",
            bus=f"0x{address.bus:02x}",
            slot=f"0x{address.slot:02x}",
            function=f"0x{address.function:x}",
        )
    return element


def parse_hostdev(xml: bytes | str) -> HostDevice:
    """Parse one ``<hostdev>`` document."""
    return hostdev_from_element(parse_xml(xml))


def render_hostdev(hostdev: HostDevice) -> bytes:
    """Render ``hostdev`` as a ``<hostdev>`` document."""
    return etree.tostring(hostdev_element(hostdev))


# --- controllers ------------------------------------------------------------------------


def controller_from_element(element: etree._Element) -> Controller:
    """Read a ``<controller>`` element."""
    return Controller(
        type=element.get("type") or "",
        index=attr_int(element.get("index")),
        model=element.get("model"),
    )


def controller_element(controller: Controller) -> etree._Element:
    """Build the ``<controller>`` element of ``controller``."""
    element = etree.Element("controller", type=controller.type)
    _set(element, "index", controller.index)
    _set(element, "model", controller.model)
    return element


def render_controller(controller: Controller) -> bytes:
    """Render ``controller`` as a ``<controller>`` document."""
    return etree.tostring(controller_element(controller))


# --- all devices ------------------------------------------------------------------------


def parse_devices(devices: etree._Element | None) -> DomainDevices:
    """Read the children of ``<devices>`` we model; others are skipped."""
    if devices is None:
        return DomainDevices()
    disks: list[Disk] = []
    interfaces: list[Interface] = []
    graphics: list[Graphics] = []
    videos: list[Video] = []
    hostdevs: list[HostDevice] = []
    controllers: list[Controller] = []
    for child in devices:
        tag = child.tag
        if tag == "disk":
            disks.append(disk_from_element(child))
        elif tag == "interface":
            interfaces.append(interface_from_element(child))
        elif tag == "graphics":
            graphics.append(graphics_from_element(child))
        elif tag == "video":
            videos.append(video_from_element(child))
        elif tag == "hostdev":
            hostdevs.append(hostdev_from_element(child))
        elif tag == "controller":
            controllers.append(controller_from_element(child))
    return DomainDevices(
        disks=tuple(disks),
        interfaces=tuple(interfaces),
        graphics=tuple(graphics),
        videos=tuple(videos),
        hostdevs=tuple(hostdevs),
        controllers=tuple(controllers),
    )


def devices_element(devices: DomainDevices) -> etree._Element:
    """Build a ``<devices>`` element with every modelled device."""
    element = etree.Element("devices")
    element.extend(disk_element(disk) for disk in devices.disks)
    element.extend(controller_element(c) for c in devices.controllers)
    element.extend(interface_element(nic) for nic in devices.interfaces)
    element.extend(graphics_element(g) for g in devices.graphics)
    element.extend(video_element(v) for v in devices.videos)
    element.extend(hostdev_element(h) for h in devices.hostdevs)
    return element
