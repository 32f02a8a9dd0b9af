"""Parse and render a domain's ``<devices>`` children."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lxml import etree

from virtumancer._xml._parser import attr_bool, attr_int, first_child, parse_xml
from virtumancer.models.devices import (
    CharDevice,
    Controller,
    Disk,
    Filesystem,
    Graphics,
    HostDevice,
    Input,
    Interface,
    PciAddress,
    Rng,
    Sound,
    Tpm,
    Video,
    Watchdog,
)
from virtumancer.models.domain import DomainDevices

__all__ = [
    "disk_from_element",
    "disk_target_letters",
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


def disk_target_letters(index: int) -> str:
    """Return the letters of the ``index``-th disk on a bus (0: ``a``, 25: ``z``, 26: ``aa``).

    As libvirt and the kernel name disks: ``vda`` .. ``vdz``, ``vdaa`` ..
    """
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("a") + rest) + name
    return name


def disk_from_element(element: etree._Element) -> Disk:
    """Read a ``<disk>`` element."""
    # One pass over the children (the hot path of parse_domain): cheaper than find() each.
    driver = source = target = None
    read_only = shareable = False
    serial = None
    for child in element:
        tag = child.tag
        if tag == "driver":
            driver = driver if driver is not None else child
        elif tag == "source":
            source = source if source is not None else child
        elif tag == "target":
            target = target if target is not None else child
        elif tag == "readonly":
            read_only = True
        elif tag == "shareable":
            shareable = True
        elif tag == "serial" and serial is None:
            serial = child.text or ""
    source_path = source_pool = source_volume = source_protocol = source_name = None
    if source is not None:
        get = source.get
        source_path = get("file")
        if source_path is None:
            source_path = get("dev")
            if source_path is None:
                source_path = get("dir")
        source_pool = get("pool")
        source_volume = get("volume")
        source_protocol = get("protocol")
        source_name = get("name")
    return Disk(
        type=element.get("type") or "file",
        device=element.get("device") or "disk",
        driver_name=None if driver is None else driver.get("name"),
        driver_type=None if driver is None else driver.get("type"),
        source_path=source_path,
        source_pool=source_pool,
        source_volume=source_volume,
        source_protocol=source_protocol,
        source_name=source_name,
        target_dev=("" if target is None else target.get("dev")) or "",
        target_bus=None if target is None else target.get("bus"),
        read_only=read_only,
        shareable=shareable,
        serial=serial,
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
    mac = model = target_dev = alias = None
    source = None
    tags: list[int] = []
    seen_vlan = False
    for child in element:
        tag = child.tag
        if tag == "mac":
            mac = mac if mac is not None else child.get("address")
        elif tag == "source":
            source = source if source is not None else child
        elif tag == "model":
            model = model if model is not None else child.get("type")
        elif tag == "target":
            target_dev = target_dev if target_dev is not None else child.get("dev")
        elif tag == "alias":
            alias = alias if alias is not None else child.get("name")
        elif tag == "vlan" and not seen_vlan:
            seen_vlan = True
            for vlan_tag in child.iterfind("tag"):
                number = attr_int(vlan_tag.get("id"))
                if number is not None:
                    tags.append(number)
    return Interface(
        type=element.get("type") or "network",
        mac=mac,
        source_network=None if source is None else source.get("network"),
        source_bridge=None if source is None else source.get("bridge"),
        source_portgroup=None if source is None else source.get("portgroup"),
        source_dev=None if source is None else source.get("dev"),
        model=model,
        target_dev=target_dev,
        vlan_tags=tuple(tags),
        alias=alias,
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
    # libvirt writes port='-1' for "not allocated yet" (autoport, inactive XML).
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return None if number < 0 else number


def graphics_from_element(element: etree._Element) -> Graphics:
    """Read a ``<graphics>`` element; the password value is never kept."""
    listen = element.get("listen")
    socket_path = element.get("socket")
    # libvirt mirrors a single address listen into @listen; only without it, or with
    # several listens, are the <listen> children worth walking (sockets, networks).
    if listen is None or len(element) > 1:
        for child in element:
            if child.tag != "listen":
                continue
            if listen is None:
                listen = child.get("address")
            if socket_path is None:
                socket_path = child.get("socket")
    return Graphics(
        type=element.get("type") or "vnc",
        port=_port(element.get("port")),
        tls_port=_port(element.get("tlsPort")),
        autoport=attr_bool(element.get("autoport")),
        listen=listen,
        has_password=element.get("passwd") is not None,
        socket_path=socket_path,
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
    if graphics.socket_path is not None:
        etree.SubElement(element, "listen", type="socket", socket=graphics.socket_path)
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
    model = first_child(element, "model")
    if model is None:
        return Video(model="default")
    acceleration = first_child(model, "acceleration") if len(model) else None
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
    source = first_child(element, "source")
    if source is not None:
        address = pci_address_from_element(first_child(source, "address"))
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


# --- smaller devices --------------------------------------------------------------------


def input_from_element(element: etree._Element) -> Input:
    """Read an ``<input>`` element."""
    return Input(type=element.get("type") or "", bus=element.get("bus"))


def input_element(device: Input) -> etree._Element:
    """Build the ``<input>`` element of ``device``."""
    element = etree.Element("input", type=device.type)
    _set(element, "bus", device.bus)
    return element


def sound_from_element(element: etree._Element) -> Sound:
    """Read a ``<sound>`` element."""
    return Sound(model=element.get("model") or "")


def sound_element(device: Sound) -> etree._Element:
    """Build the ``<sound>`` element of ``device``."""
    return etree.Element("sound", model=device.model)


def chardev_from_element(element: etree._Element) -> CharDevice:
    """Read a ``<serial>``, ``<console>``, ``<parallel>`` or ``<channel>`` element."""
    target = first_child(element, "target")
    return CharDevice(
        kind=str(element.tag),
        type=element.get("type") or "pty",
        target_type=None if target is None else target.get("type"),
        target_port=None if target is None else attr_int(target.get("port")),
        target_name=None if target is None else target.get("name"),
    )


def chardev_element(device: CharDevice) -> etree._Element:
    """Build the element of ``device`` (named by its ``kind``)."""
    element = etree.Element(device.kind, type=device.type)
    if (
        device.target_type is not None
        or device.target_port is not None
        or device.target_name is not None
    ):
        target = etree.SubElement(element, "target")
        _set(target, "type", device.target_type)
        _set(target, "port", device.target_port)
        _set(target, "name", device.target_name)
    return element


def filesystem_from_element(element: etree._Element) -> Filesystem:
    """Read a ``<filesystem>`` element."""
    driver_type = source_dir = target_dir = None
    read_only = False
    for child in element:
        tag = child.tag
        if tag == "driver" and driver_type is None:
            driver_type = child.get("type")
        elif tag == "source" and source_dir is None:
            source_dir = child.get("dir")
            if source_dir is None:
                source_dir = child.get("name")
        elif tag == "target" and target_dir is None:
            target_dir = child.get("dir")
        elif tag == "readonly":
            read_only = True
    return Filesystem(
        type=element.get("type") or "mount",
        driver_type=driver_type,
        source_dir=source_dir,
        target_dir=target_dir,
        read_only=read_only,
    )


def filesystem_element(device: Filesystem) -> etree._Element:
    """Build the ``<filesystem>`` element of ``device``."""
    element = etree.Element("filesystem", type=device.type)
    if device.driver_type is not None:
        etree.SubElement(element, "driver", type=device.driver_type)
    if device.source_dir is not None:
        etree.SubElement(element, "source", dir=device.source_dir)
    if device.target_dir is not None:
        etree.SubElement(element, "target", dir=device.target_dir)
    if device.read_only:
        etree.SubElement(element, "readonly")
    return element


def rng_from_element(element: etree._Element) -> Rng:
    """Read an ``<rng>`` element."""
    backend = first_child(element, "backend")
    return Rng(
        model=element.get("model") or "virtio",
        backend_model=None if backend is None else backend.get("model"),
        backend_source=None if backend is None else (backend.text or None),
    )


def rng_element(device: Rng) -> etree._Element:
    """Build the ``<rng>`` element of ``device``."""
    element = etree.Element("rng", model=device.model)
    if device.backend_model is not None or device.backend_source is not None:
        backend = etree.SubElement(element, "backend")
        _set(backend, "model", device.backend_model)
        backend.text = device.backend_source
    return element


def tpm_from_element(element: etree._Element) -> Tpm:
    """Read a ``<tpm>`` element."""
    backend = first_child(element, "backend")
    return Tpm(
        model=element.get("model"),
        backend_type=None if backend is None else backend.get("type"),
        backend_version=None if backend is None else backend.get("version"),
    )


def tpm_element(device: Tpm) -> etree._Element:
    """Build the ``<tpm>`` element of ``device``."""
    element = etree.Element("tpm")
    _set(element, "model", device.model)
    if device.backend_type is not None or device.backend_version is not None:
        backend = etree.SubElement(element, "backend")
        _set(backend, "type", device.backend_type)
        _set(backend, "version", device.backend_version)
    return element


def watchdog_from_element(element: etree._Element) -> Watchdog:
    """Read a ``<watchdog>`` element."""
    return Watchdog(model=element.get("model") or "", action=element.get("action"))


def watchdog_element(device: Watchdog) -> etree._Element:
    """Build the ``<watchdog>`` element of ``device``."""
    element = etree.Element("watchdog", model=device.model)
    _set(element, "action", device.action)
    return element


# --- all devices ------------------------------------------------------------------------


def _memballoon_from_element(element: etree._Element) -> str:
    return element.get("model") or ""


def _emulator_from_element(element: etree._Element) -> str:
    return element.text or ""


# Which reader reads each <devices> child, and the DomainDevices field it goes to.
_READERS: dict[str, tuple[str, Callable[[etree._Element], object]]] = {
    "disk": ("disks", disk_from_element),
    "interface": ("interfaces", interface_from_element),
    "graphics": ("graphics", graphics_from_element),
    "video": ("videos", video_from_element),
    "hostdev": ("hostdevs", hostdev_from_element),
    "controller": ("controllers", controller_from_element),
    "input": ("inputs", input_from_element),
    "sound": ("sounds", sound_from_element),
    "serial": ("chardevs", chardev_from_element),
    "console": ("chardevs", chardev_from_element),
    "parallel": ("chardevs", chardev_from_element),
    "channel": ("chardevs", chardev_from_element),
    "filesystem": ("filesystems", filesystem_from_element),
    "rng": ("rngs", rng_from_element),
    "tpm": ("tpms", tpm_from_element),
    "watchdog": ("watchdogs", watchdog_from_element),
    "memballoon": ("memballoon", _memballoon_from_element),
    "emulator": ("emulator", _emulator_from_element),
}
_SINGLE = frozenset({"memballoon", "emulator"})


def parse_devices(devices: etree._Element | None) -> DomainDevices:
    """Read the children of ``<devices>`` we model; others are skipped."""
    if devices is None:
        return DomainDevices()
    found: dict[str, list[object]] = {}
    readers = _READERS
    # A plain loop: iterchildren(*tags) costs more to set up than it saves here.
    for child in devices:
        entry = readers.get(child.tag)  # type: ignore[arg-type]
        if entry is None:
            continue
        field, reader = entry
        bucket = found.get(field)
        if bucket is None:
            found[field] = bucket = []
        bucket.append(reader(child))
    fields: dict[str, Any] = {}
    for field, values in found.items():
        # A second <memballoon> or <emulator> is invalid; like libvirt, keep the first.
        fields[field] = values[0] if field in _SINGLE else tuple(values)
    return DomainDevices(**fields)


def devices_element(
    devices: DomainDevices, graphics_passwords: Sequence[str | None] = ()
) -> etree._Element:
    """Build a ``<devices>`` element with every modelled device.

    ``graphics_passwords[i]`` is the password of ``devices.graphics[i]`` (models hold none).
    """
    element = etree.Element("devices")
    if devices.emulator is not None:
        etree.SubElement(element, "emulator").text = devices.emulator
    element.extend(disk_element(disk) for disk in devices.disks)
    element.extend(controller_element(c) for c in devices.controllers)
    element.extend(filesystem_element(f) for f in devices.filesystems)
    element.extend(interface_element(nic) for nic in devices.interfaces)
    element.extend(chardev_element(c) for c in devices.chardevs)
    element.extend(input_element(i) for i in devices.inputs)
    element.extend(tpm_element(t) for t in devices.tpms)
    passwords = list(graphics_passwords) + [None] * len(devices.graphics)
    element.extend(
        graphics_element(g, password=password)
        for g, password in zip(devices.graphics, passwords, strict=False)
    )
    element.extend(sound_element(s) for s in devices.sounds)
    element.extend(video_element(v) for v in devices.videos)
    element.extend(hostdev_element(h) for h in devices.hostdevs)
    element.extend(watchdog_element(w) for w in devices.watchdogs)
    if devices.memballoon is not None:
        etree.SubElement(element, "memballoon", model=devices.memballoon)
    element.extend(rng_element(r) for r in devices.rngs)
    return element
