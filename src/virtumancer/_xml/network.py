"""Virtual network XML."""

from __future__ import annotations

import ipaddress

from lxml import etree

from virtumancer._xml._parser import child_text, expect_root, parse_xml
from virtumancer.exceptions import InvalidInputError
from virtumancer.models.network import NatNetworkSpec, Network

__all__ = ["parse_nat_network_spec", "parse_network", "render_nat_network"]


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


def parse_nat_network_spec(xml: bytes | str) -> NatNetworkSpec:
    """Parse a network's definition back into the :class:`NatNetworkSpec` it answers to.

    For comparing a defined network with a wanted spec: the first IPv4 ``<ip>`` gives the
    address and prefix (a ``netmask`` is turned into its prefix), its first DHCP range the
    bounds; what is missing stays ``None`` (``address`` ``""``). ``autostart`` is not in the
    XML and stays ``False``.
    """
    root = parse_xml(xml)
    expect_root(root, "network")
    bridge = root.find("bridge")
    address, prefix, start, end = "", 24, None, None
    for ip in root.iterfind("ip"):
        if ip.get("family", "ipv4") != "ipv4" or not ip.get("address"):
            continue
        address = ip.get("address") or ""
        if ip.get("prefix"):
            prefix = int(ip.get("prefix") or 24)
        elif ip.get("netmask"):
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{ip.get('netmask')}").prefixlen
        dhcp_range = ip.find("dhcp/range")
        if dhcp_range is not None:
            start, end = dhcp_range.get("start"), dhcp_range.get("end")
        break
    return NatNetworkSpec(
        name=child_text(root, "name") or "",
        address=address,
        prefix=prefix,
        dhcp_start=start,
        dhcp_end=end,
        bridge=None if bridge is None else bridge.get("name"),
    )


def render_nat_network(spec: NatNetworkSpec) -> bytes:
    """Render a NAT network with its DHCP range (checked: IPv4, the range in the subnet)."""
    # Not at the top: parsing networks (every listing) need not load the spec models.
    from virtumancer.models.spec import check_name

    check_name(spec.name, "name")
    try:
        interface = ipaddress.IPv4Interface(f"{spec.address}/{spec.prefix}")
    except ValueError:
        raise InvalidInputError(
            f"address: {spec.address!r}/{spec.prefix} is not an IPv4 address and prefix",
            field="address",
        ) from None
    if not 8 <= spec.prefix <= 30:
        raise InvalidInputError("prefix: must be from 8 to 30", field="prefix")
    root = etree.Element("network")
    etree.SubElement(root, "name").text = spec.name
    etree.SubElement(root, "forward", mode="nat")
    if spec.bridge is not None:
        check_name(spec.bridge, "bridge")
        etree.SubElement(root, "bridge", name=spec.bridge, stp="on", delay="0")
    ip = etree.SubElement(root, "ip", address=str(interface.ip), prefix=str(spec.prefix))
    if (spec.dhcp_start is None) != (spec.dhcp_end is None):
        raise InvalidInputError("dhcp_start and dhcp_end go together", field="dhcp_end")
    if spec.dhcp_start is not None and spec.dhcp_end is not None:
        bounds = []
        for field in ("dhcp_start", "dhcp_end"):
            value = getattr(spec, field)
            try:
                address = ipaddress.IPv4Address(value)
            except ValueError:
                raise InvalidInputError(
                    f"{field}: {value!r} is not an IPv4 address", field=field
                ) from None
            if address not in interface.network or address == interface.ip:
                raise InvalidInputError(
                    f"{field}: {value} is not a free address of {interface.network}", field=field
                )
            bounds.append(address)
        if bounds[0] > bounds[1]:
            raise InvalidInputError("dhcp_end: comes before dhcp_start", field="dhcp_end")
        dhcp = etree.SubElement(ip, "dhcp")
        etree.SubElement(dhcp, "range", start=str(bounds[0]), end=str(bounds[1]))
    return etree.tostring(root)
