"""Pure XML of domain snapshots: ``<domainsnapshot>`` to render for a create, and to read."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from virtumancer._xml._parser import parse_xml
from virtumancer.models.snapshot import Snapshot

__all__ = ["parse_snapshot", "render_snapshot"]


def render_snapshot(name: str | None, description: str = "") -> bytes:
    """Render the ``<domainsnapshot>`` a create sends (``name`` ``None``: libvirt names it)."""
    root = etree.Element("domainsnapshot")
    if name is not None:
        etree.SubElement(root, "name").text = name
    if description:
        etree.SubElement(root, "description").text = description
    return etree.tostring(root)


def parse_snapshot(xml: bytes | str) -> Snapshot:
    """Read a snapshot's XML (``getXMLDesc``); tree fields are left to the caller."""
    root = parse_xml(xml)
    created: dt.datetime | None = None
    seconds = root.findtext("creationTime")
    if seconds is not None and seconds.strip().isdigit():
        created = dt.datetime.fromtimestamp(int(seconds), dt.UTC)
    memory = root.find("memory")
    memory_kind = memory.get("snapshot") if memory is not None else None
    disks = [disk.get("snapshot") for disk in root.iterfind("disks/disk")]
    return Snapshot(
        name=root.findtext("name") or "",
        description=root.findtext("description") or "",
        created_at=created,
        state=root.findtext("state") or "",
        memory=memory_kind in ("internal", "external"),
        external=memory_kind == "external" or "external" in disks,
        parent=root.findtext("parent/name"),
    )
