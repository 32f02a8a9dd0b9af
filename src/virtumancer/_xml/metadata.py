"""Our ``<virtumancer:instance>`` element inside a domain's ``<metadata>``."""

from __future__ import annotations

import datetime as dt
from typing import Final

from lxml import etree

from virtumancer._xml._parser import first_child, parse_xml
from virtumancer.models.metadata import (
    METADATA_NAMESPACE,
    METADATA_PREFIX,
    VirtumancerMetadata,
)

__all__ = [
    "METADATA_ELEMENT",
    "find_metadata",
    "metadata_element",
    "metadata_from_element",
    "parse_metadata",
    "render_metadata",
]

#: Local name of our element.
METADATA_ELEMENT: Final = "instance"
_ROOT_TAG: Final = f"{{{METADATA_NAMESPACE}}}{METADATA_ELEMENT}"
_FIELDS: Final = ("managed-by", "imported-at", "imported-by", "version")


def _format_time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def metadata_from_element(element: etree._Element) -> VirtumancerMetadata | None:
    """Read our element; ``None`` if it lacks what we need (someone else's edit)."""
    values: dict[str, str] = {}
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        # Children may come back with or without our namespace (it depends on the XML given
        # to setMetadata), so match local names.
        name = tag.rpartition("}")[2]
        if name in _FIELDS:
            values[name] = (child.text or "").strip()
    imported_at = _parse_time(values.get("imported-at", ""))
    managed_by = values.get("managed-by")
    if imported_at is None or not managed_by:
        return None
    return VirtumancerMetadata(
        managed_by=managed_by,
        imported_at=imported_at,
        imported_by=values.get("imported-by") or None,
        version=values.get("version", ""),
    )


def find_metadata(metadata: etree._Element | None) -> VirtumancerMetadata | None:
    """Find and read our element among the children of a domain's ``<metadata>``."""
    if metadata is None:
        return None
    element = first_child(metadata, _ROOT_TAG)
    return None if element is None else metadata_from_element(element)


def parse_metadata(xml: bytes | str) -> VirtumancerMetadata | None:
    """Parse what ``virDomain.metadata(VIR_DOMAIN_METADATA_ELEMENT, NS)`` returns.

    Also accepts our element in its namespace, or a whole ``<metadata>`` element. ``None``
    if our element is missing or incomplete.
    """
    root = parse_xml(xml)
    # virDomainGetMetadata() returns our element with its namespace stripped.
    if root.tag in (_ROOT_TAG, METADATA_ELEMENT):
        return metadata_from_element(root)
    return find_metadata(root)


def metadata_element(metadata: VirtumancerMetadata) -> etree._Element:
    """Build our element for ``metadata``."""
    nsmap = {METADATA_PREFIX: METADATA_NAMESPACE}
    root = etree.Element(_ROOT_TAG, nsmap=nsmap)
    fields = {
        "managed-by": metadata.managed_by,
        "imported-at": _format_time(metadata.imported_at),
        "imported-by": metadata.imported_by,
        "version": metadata.version,
    }
    for name, value in fields.items():
        if value is not None:
            etree.SubElement(root, f"{{{METADATA_NAMESPACE}}}{name}").text = value
    return root


def render_metadata(metadata: VirtumancerMetadata, *, bare: bool = False) -> bytes:
    """Render our element, in our namespace (as it stands inside a domain's ``<metadata>``).

    With ``bare``, render it without any namespace: the form ``virDomain.setMetadata`` wants
    with ``VIR_DOMAIN_METADATA_ELEMENT``, key :data:`METADATA_PREFIX` and uri
    :data:`METADATA_NAMESPACE` -- libvirt puts the element into the namespace itself and fails
    ("failed to create a new XML namespace") when the element already declares the prefix.
    """
    root = metadata_element(metadata)
    if bare:
        for element in root.iter():
            element.tag = etree.QName(element).localname
        etree.cleanup_namespaces(root)
    return etree.tostring(root)
