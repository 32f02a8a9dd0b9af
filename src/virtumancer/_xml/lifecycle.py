"""Pure XML for the VM lifecycle: new volumes, and in-place edits of a domain's own XML.

An edit takes the domain's XML as libvirt gave it (``XMLDesc(INACTIVE | SECURE)``), changes
only the elements it is about, and returns the whole document: every element we do not
model (devices, metadata of other tools, tuning) survives it. Never re-render a domain from a
partial model.
"""

from __future__ import annotations

from typing import Final

import attrs
from lxml import etree

from virtumancer._xml._parser import parse_xml
from virtumancer._xml.metadata import metadata_element
from virtumancer.exceptions import InvalidInputError
from virtumancer.models.metadata import METADATA_NAMESPACE, VirtumancerMetadata

__all__ = [
    "DomainEdit",
    "edit_domain_xml",
    "render_volume",
    "with_metadata",
]

_KIB: Final = 1024


def render_volume(
    name: str,
    capacity_bytes: int,
    *,
    format: str,
    backing_path: str | None = None,
    backing_format: str | None = None,
) -> bytes:
    """Render ``<volume>`` XML for ``virStoragePool.createXML`` (a backing file for overlays)."""
    root = etree.Element("volume")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "capacity", unit="bytes").text = str(capacity_bytes)
    # qcow2 grows on demand; raw files are sparse: nothing is allocated up front.
    etree.SubElement(root, "allocation", unit="bytes").text = "0"
    target = etree.SubElement(root, "target")
    etree.SubElement(target, "format", type=format)
    if backing_path is not None:
        backing = etree.SubElement(root, "backingStore")
        etree.SubElement(backing, "path").text = backing_path
        etree.SubElement(backing, "format", type=backing_format or "raw")
    return etree.tostring(root)


@attrs.frozen(kw_only=True)
class DomainEdit:
    """What to change in a domain's definition; ``None`` leaves a field as it is.

    ``cdrom_media`` maps a CD-ROM's target device (``sda``, ``hdc``) to the path of the
    image to insert, or ``""`` to eject.
    """

    memory_bytes: int | None = None
    vcpus: int | None = None
    description: str | None = None
    cdrom_media: tuple[tuple[str, str], ...] = ()


def _set_text(root: etree._Element, tag: str, text: str, **attributes: str) -> etree._Element:
    element = root.find(tag)
    if element is None:
        element = etree.SubElement(root, tag)
    element.text = text
    for key, value in attributes.items():
        element.set(key, value)
    return element


def edit_domain_xml(xml: bytes | str, edit: DomainEdit) -> bytes:
    """Return the domain XML with ``edit`` applied and everything else untouched.

    Raise :class:`~virtumancer.exceptions.InvalidInputError` (``field="cdrom_media"``) for a
    CD-ROM target the domain does not have.
    """
    root = parse_xml(xml)
    if edit.memory_bytes is not None:
        kib = str(edit.memory_bytes // _KIB)
        _set_text(root, "memory", kib, unit="KiB")
        _set_text(root, "currentMemory", kib, unit="KiB")
    if edit.vcpus is not None:
        vcpu = _set_text(root, "vcpu", str(edit.vcpus))
        vcpu.attrib.pop("current", None)  # all of them online, as the new count says
    if edit.description is not None:
        if edit.description:
            element = root.find("description")
            if element is None:
                # libvirt's order: name, uuid, title?, description? ...
                element = etree.Element("description")
                anchor = root.find("title")
                if anchor is None:
                    anchor = root.find("uuid")
                if anchor is None:
                    anchor = root.find("name")
                if anchor is None:
                    root.insert(0, element)
                else:
                    anchor.addnext(element)
            element.text = edit.description
        else:
            for element in root.findall("description"):
                root.remove(element)
    for target_dev, path in edit.cdrom_media:
        disk = _cdrom(root, target_dev)
        if disk is None:
            raise InvalidInputError(f"the domain has no CD-ROM {target_dev!r}", field="cdrom_media")
        for source in disk.findall("source"):
            disk.remove(source)
        if path:
            disk.set("type", "file")
            source = etree.Element("source", file=path)
            driver = disk.find("driver")
            if driver is not None:
                driver.addnext(source)
            else:
                disk.insert(0, source)
    return etree.tostring(root)


def _cdrom(root: etree._Element, target_dev: str) -> etree._Element | None:
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        if disk.get("device") == "cdrom" and target is not None and target.get("dev") == target_dev:
            return disk
    return None


def with_metadata(xml: bytes | str, metadata: VirtumancerMetadata) -> bytes:
    """Return domain XML with our provenance element in ``<metadata>`` (replacing an old one)."""
    root = parse_xml(xml)
    container = root.find("metadata")
    if container is None:
        container = etree.SubElement(root, "metadata")
    for old in list(container):
        if etree.QName(old).namespace == METADATA_NAMESPACE:
            container.remove(old)
    container.append(metadata_element(metadata))
    return etree.tostring(root)
