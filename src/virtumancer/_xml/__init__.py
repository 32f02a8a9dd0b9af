"""Pure parsers and renderers of libvirt XML over one hardened lxml parser.

Bytes (or ``str``) in, models out; no libvirt import, no I/O. Unknown elements and values
never crash a parse; malformed or hostile XML raises
:class:`~virtumancer.exceptions.XMLParseError`. ``render_spec`` lives in :mod:`._xml.spec`, imported
only by whoever creates VMs (it pulls in the spec models).
"""

from __future__ import annotations

from virtumancer._xml._parser import MAX_XML_BYTES, parse_xml
from virtumancer._xml.devices import (
    parse_disk,
    parse_graphics,
    parse_hostdev,
    parse_interface,
    parse_video,
    render_controller,
    render_disk,
    render_graphics,
    render_hostdev,
    render_interface,
    render_video,
)
from virtumancer._xml.domain import parse_domain, render_domain
from virtumancer._xml.host import node_info_from_libvirt, parse_capabilities
from virtumancer._xml.metadata import parse_metadata, render_metadata
from virtumancer._xml.network import parse_network
from virtumancer._xml.nodedev import parse_node_device
from virtumancer._xml.storage import parse_storage_pool, parse_storage_volume

__all__ = [
    "MAX_XML_BYTES",
    "node_info_from_libvirt",
    "parse_capabilities",
    "parse_disk",
    "parse_domain",
    "parse_graphics",
    "parse_hostdev",
    "parse_interface",
    "parse_metadata",
    "parse_network",
    "parse_node_device",
    "parse_storage_pool",
    "parse_storage_volume",
    "parse_video",
    "parse_xml",
    "render_controller",
    "render_disk",
    "render_domain",
    "render_graphics",
    "render_hostdev",
    "render_interface",
    "render_metadata",
    "render_video",
]
