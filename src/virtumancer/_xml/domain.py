"""Parse (and render, for round trips) a domain's XML."""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from virtumancer._xml._parser import attr_int, expect_root, first_child, parse_xml, scaled
from virtumancer._xml.devices import devices_element, parse_devices
from virtumancer._xml.metadata import find_metadata, metadata_element
from virtumancer.exceptions import XMLParseError
from virtumancer.models.domain import Domain

__all__ = ["domain_from_element", "parse_domain", "render_domain"]

# Children of <os> that name a file or line for direct kernel boot (in the order we write them).
_BOOT_FILE_TAGS = ("kernel", "initrd", "cmdline")
# What the guest's poweroff, reboot and crash do (destroy, restart ...).
_EVENT_ACTION_TAGS = ("on_poweroff", "on_reboot", "on_crash")
_TEXT_TAGS = frozenset({"name", "uuid", "title", "description", *_EVENT_ACTION_TAGS})


def domain_from_element(root: etree._Element) -> Domain:
    """Read a ``<domain>`` element."""
    expect_root(root, "domain")
    # The children read as their text alone (name, uuid, title, on_crash ...): the last wins.
    texts: dict[str, str | None] = {}
    vcpus = 1
    current_vcpus = None
    memory = current_memory = None
    os_type = "hvm"
    arch = machine = None
    devices = metadata = None
    firmware = cpu_mode = cpu_model = loader = None
    # <kernel>, <initrd> and <cmdline> of <os>: present but empty reads as "".
    boot_files: dict[str, str] = {}
    boot_devices: list[str] = []
    # One pass over the children: cheaper than a find() per field (and than
    # iterchildren(*tags), whose tag matcher costs more to build than it saves).
    for child in root:
        tag = child.tag
        if tag in _TEXT_TAGS:
            texts[tag] = child.text
        elif tag == "memory":
            memory = scaled(child, "KiB")
        elif tag == "currentMemory":
            current_memory = scaled(child, "KiB")
        elif tag == "vcpu":
            vcpus = attr_int(child.text) or 1
            current_vcpus = attr_int(child.get("current"))
        elif tag == "os":
            firmware = child.get("firmware")
            for os_child in child:
                os_tag = os_child.tag
                if os_tag == "type":
                    os_type = (os_child.text or "hvm").strip()
                    arch = os_child.get("arch")
                    machine = os_child.get("machine")
                elif os_tag == "boot":
                    boot_device = os_child.get("dev")
                    if boot_device is not None:
                        boot_devices.append(boot_device)
                elif os_tag == "loader":
                    loader = (os_child.text or "").strip() or None
                elif os_tag in _BOOT_FILE_TAGS:
                    boot_files[os_tag] = os_child.text or ""
        elif tag == "cpu":
            cpu_mode = child.get("mode")
            cpu_model_element = first_child(child, "model")
            if cpu_model_element is not None:
                cpu_model = cpu_model_element.text
        elif tag == "devices":
            devices = child
        elif tag == "metadata":
            metadata = child
    name = texts.get("name")
    if name is None:
        raise XMLParseError("domain XML has no <name>")
    domain_id = attr_int(root.get("id"))
    memory_bytes = memory if memory is not None else current_memory or 0
    return Domain(
        uuid=(texts.get("uuid") or "").strip(),
        name=name,
        title=texts.get("title") or "",
        description=texts.get("description") or "",
        domain_type=root.get("type") or "",
        vcpus=vcpus,
        current_vcpus=current_vcpus,
        memory_bytes=memory_bytes,
        current_memory_bytes=current_memory if current_memory is not None else memory_bytes,
        os_type=os_type,
        arch=arch,
        machine=machine,
        firmware=firmware,
        boot_devices=tuple(boot_devices),
        loader=loader,
        kernel=boot_files.get("kernel"),
        initrd=boot_files.get("initrd"),
        cmdline=boot_files.get("cmdline"),
        cpu_mode=cpu_mode,
        cpu_model=cpu_model,
        on_poweroff=texts.get("on_poweroff"),
        on_reboot=texts.get("on_reboot"),
        on_crash=texts.get("on_crash"),
        devices=parse_devices(devices),
        metadata=find_metadata(metadata),
        id=None if domain_id is None or domain_id < 0 else domain_id,
    )


def parse_domain(xml: bytes | str) -> Domain:
    """Parse a domain's XML (``virDomain.XMLDesc()``) into a :class:`Domain`.

    ``state``, ``autostart`` and ``persistent`` are not in the XML and stay ``None``.
    Devices we do not model are skipped.
    """
    return domain_from_element(parse_xml(xml))


def _add_texts(parent: etree._Element, domain: Domain, names: Sequence[str]) -> None:
    """Add a ``<name>`` child holding ``domain.<name>`` for each of ``names`` that is set."""
    for name in names:
        value = getattr(domain, name)
        if value is not None:
            etree.SubElement(parent, name).text = value


def render_domain(domain: Domain, *, graphics_passwords: Sequence[str | None] = ()) -> bytes:
    """Render what :class:`Domain` models as domain XML.

    This is the modelled subset (enough to define a minimal guest and to round-trip the
    model); it is not a way to edit an existing domain's full XML. Models hold no console
    passwords: ``graphics_passwords[i]`` sets that of ``domain.devices.graphics[i]``.
    """
    root = etree.Element("domain", type=domain.domain_type)
    if domain.id is not None:
        root.set("id", str(domain.id))
    etree.SubElement(root, "name").text = domain.name
    etree.SubElement(root, "uuid").text = domain.uuid
    if domain.title:
        etree.SubElement(root, "title").text = domain.title
    if domain.description:
        etree.SubElement(root, "description").text = domain.description
    if domain.metadata is not None:
        etree.SubElement(root, "metadata").append(metadata_element(domain.metadata))
    etree.SubElement(root, "memory", unit="b").text = str(domain.memory_bytes)
    etree.SubElement(root, "currentMemory", unit="b").text = str(domain.current_memory_bytes)
    vcpu = etree.SubElement(root, "vcpu")
    vcpu.text = str(domain.vcpus)
    if domain.current_vcpus is not None:
        vcpu.set("current", str(domain.current_vcpus))
    os_element = etree.SubElement(root, "os")
    if domain.firmware is not None:
        os_element.set("firmware", domain.firmware)
    os_type = etree.SubElement(os_element, "type")
    os_type.text = domain.os_type
    if domain.arch is not None:
        os_type.set("arch", domain.arch)
    if domain.machine is not None:
        os_type.set("machine", domain.machine)
    if domain.loader is not None:
        etree.SubElement(os_element, "loader").text = domain.loader
    _add_texts(os_element, domain, _BOOT_FILE_TAGS)
    for boot_device in domain.boot_devices:
        etree.SubElement(os_element, "boot", dev=boot_device)
    if domain.cpu_mode is not None or domain.cpu_model is not None:
        cpu = etree.SubElement(root, "cpu")
        if domain.cpu_mode is not None:
            cpu.set("mode", domain.cpu_mode)
        if domain.cpu_model is not None:
            etree.SubElement(cpu, "model").text = domain.cpu_model
    _add_texts(root, domain, _EVENT_ACTION_TAGS)
    root.append(devices_element(domain.devices, graphics_passwords))
    return etree.tostring(root)
