"""Pure parsers and renderers of libvirt XML over one hardened lxml parser.

Bytes (or ``str``) in, models out; no libvirt import, no I/O. Unknown elements and values
never crash a parse; malformed or hostile XML raises
:class:`~virtumancer.exceptions.XMLParseError`. ``render_spec`` lives in :mod:`._xml.spec`, imported
only by whoever creates VMs (it pulls in the spec models).

Each name is imported on first use (see :mod:`virtumancer._lazy`): listing domains does not
load the storage, network and host parsers (and their models).
"""

# How to add a public name: put it in its module's tuple in the `_lazy.attach` table
# below (a new module gets a new row) and import it under TYPE_CHECKING in the form
# `from module import Name as Name` (mypy reads that; the table is what runs).
# `__all__` is derived from the table: never write it out.

from __future__ import annotations

from typing import TYPE_CHECKING

from virtumancer import _lazy

if TYPE_CHECKING:
    from virtumancer._xml._parser import MAX_XML_BYTES as MAX_XML_BYTES
    from virtumancer._xml._parser import parse_xml as parse_xml
    from virtumancer._xml.devices import parse_disk as parse_disk
    from virtumancer._xml.devices import parse_graphics as parse_graphics
    from virtumancer._xml.devices import parse_hostdev as parse_hostdev
    from virtumancer._xml.devices import parse_interface as parse_interface
    from virtumancer._xml.devices import parse_video as parse_video
    from virtumancer._xml.devices import render_controller as render_controller
    from virtumancer._xml.devices import render_disk as render_disk
    from virtumancer._xml.devices import render_graphics as render_graphics
    from virtumancer._xml.devices import render_hostdev as render_hostdev
    from virtumancer._xml.devices import render_interface as render_interface
    from virtumancer._xml.devices import render_video as render_video
    from virtumancer._xml.domain import parse_domain as parse_domain
    from virtumancer._xml.domain import render_domain as render_domain
    from virtumancer._xml.host import node_info_from_libvirt as node_info_from_libvirt
    from virtumancer._xml.host import parse_capabilities as parse_capabilities
    from virtumancer._xml.metadata import parse_metadata as parse_metadata
    from virtumancer._xml.metadata import render_metadata as render_metadata
    from virtumancer._xml.network import parse_network as parse_network
    from virtumancer._xml.nodedev import parse_node_device as parse_node_device
    from virtumancer._xml.storage import parse_storage_pool as parse_storage_pool
    from virtumancer._xml.storage import parse_storage_volume as parse_storage_volume

__all__: list[str]  # derived from the table below

if not TYPE_CHECKING:
    __getattr__, __dir__, __all__ = _lazy.attach(
        __name__,
        {
            "virtumancer._xml._parser": (
                "MAX_XML_BYTES",
                "parse_xml",
            ),
            "virtumancer._xml.devices": (
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
            ),
            "virtumancer._xml.domain": (
                "parse_domain",
                "render_domain",
            ),
            "virtumancer._xml.host": (
                "node_info_from_libvirt",
                "parse_capabilities",
            ),
            "virtumancer._xml.metadata": (
                "parse_metadata",
                "render_metadata",
            ),
            "virtumancer._xml.network": ("parse_network",),
            "virtumancer._xml.nodedev": ("parse_node_device",),
            "virtumancer._xml.storage": (
                "parse_storage_pool",
                "parse_storage_volume",
            ),
        },
    )
