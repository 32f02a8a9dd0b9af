"""Virtual network XML."""

from __future__ import annotations

from virtumancer._xml._parser import child_text, expect_root, parse_xml
from virtumancer.models.network import Network

__all__ = ["parse_network"]


def parse_network(xml: bytes | str) -> Network:
    """Parse ``virNetwork.XMLDesc()``; active/autostart/persistent stay ``None``.

    A ``<forward>`` without ``mode`` is NAT (libvirt's default); no ``<forward>`` is an
    isolated network (``forward_mode=None``).
    """
    root = parse_xml(xml)
    expect_root(root, "network")
    forward = root.find("forward")
    bridge = root.find("bridge")
    return Network(
        uuid=(child_text(root, "uuid") or "").strip(),
        name=child_text(root, "name") or "",
        bridge=None if bridge is None else bridge.get("name"),
        forward_mode=None if forward is None else forward.get("mode") or "nat",
    )
