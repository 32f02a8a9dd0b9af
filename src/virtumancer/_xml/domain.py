"""Parse (and render, for round trips) a domain's XML."""

from __future__ import annotations

from lxml import etree

from virtumancer._xml._parser import attr_int, expect_root, parse_xml, scaled
from virtumancer._xml.devices import devices_element, parse_devices
from virtumancer._xml.metadata import find_metadata, metadata_element
from virtumancer.exceptions import XMLParseError
from virtumancer.models.domain import Domain

__all__ = ["domain_from_element", "parse_domain", "render_domain"]


def domain_from_element(root: etree._Element) -> Domain:
    """Read a ``<domain>`` element."""
    expect_root(root, "domain")
    uuid = name = title = description = None
    vcpus = 1
    current_vcpus = None
    memory = current_memory = None
    os_type = "hvm"
    arch = machine = None
    devices = metadata = None
    # One pass over the children: cheaper than a find() per field.
    for child in root:
        tag = child.tag
        if tag == "name":
            name = child.text
        elif tag == "uuid":
            uuid = child.text
        elif tag == "title":
            title = child.text
        elif tag == "description":
            description = child.text
        elif tag == "memory":
            memory = scaled(child, "KiB")
        elif tag == "currentMemory":
            current_memory = scaled(child, "KiB")
        elif tag == "vcpu":
            vcpus = attr_int(child.text) or 1
            current_vcpus = attr_int(child.get("current"))
        elif tag == "os":
            os_type_element = child.find("type")
            if os_type_element is not None:
                os_type = (os_type_element.text or "hvm").strip()
                arch = os_type_element.get("arch")
                machine = os_type_element.get("machine")
        elif tag == "devices":
            devices = child
        elif tag == "metadata":
            metadata = child
    if name is None:
        raise XMLParseError("domain XML has no <name>")
    domain_id = attr_int(root.get("id"))
    memory_bytes = memory if memory is not None else current_memory or 0
    return Domain(
        uuid=(uuid or "").strip(),
        name=name,
        title=title or "",
        description=description or "",
        domain_type=root.get("type") or "",
        vcpus=vcpus,
        current_vcpus=current_vcpus,
        memory_bytes=memory_bytes,
        current_memory_bytes=current_memory if current_memory is not None else memory_bytes,
        os_type=os_type,
        arch=arch,
        machine=machine,
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


def render_domain(domain: Domain) -> bytes:
    """Render what :class:`Domain` models as domain XML.

    This is the modelled subset (enough to define a minimal guest and to round-trip the
    model); it is not a way to edit an existing domain's full XML.
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
    os_type = etree.SubElement(os_element, "type")
    os_type.text = domain.os_type
    if domain.arch is not None:
        os_type.set("arch", domain.arch)
    if domain.machine is not None:
        os_type.set("machine", domain.machine)
    root.append(devices_element(domain.devices))
    return etree.tostring(root)
