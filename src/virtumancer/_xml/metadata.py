"""Our ``<virtumancer:instance>`` element inside a domain's ``<metadata>``."""

from __future__ import annotations

import datetime as dt
from typing import Final

from lxml import etree

from virtumancer._xml._parser import parse_xml
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
        if not isinstance(child.tag, str):
            continue
        # libvirt re-homes only the root of a metadata element into the namespace; children
        # may come back with or without it, so match local names.
        name = etree.QName(child).localname
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
    element = metadata.find(_ROOT_TAG)
    return None if element is None else metadata_from_element(element)


def parse_metadata(xml: bytes | str) -> VirtumancerMetadata | None:
    """Parse what ``virDomain.metadata(VIR_DOMAIN_METADATA_ELEMENT, NS)`` returns.

    Also accepts a whole ``<metadata>`` element. ``None`` if our element is missing or
    incomplete.
    """
    root = parse_xml(xml)
    if root.tag == _ROOT_TAG:
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


def render_metadata(metadata: VirtumancerMetadata) -> bytes:
    """Render our element for ``virDomain.setMetadata``.

    Pass the result with ``VIR_DOMAIN_METADATA_ELEMENT``, key :data:`METADATA_PREFIX` and
    uri :data:`METADATA_NAMESPACE`.
    """
    return etree.tostring(metadata_element(metadata))
