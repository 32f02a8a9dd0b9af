"""A NAT network's definition read back as the spec it answers to, and the diff rules."""

from __future__ import annotations

import pytest

from virtumancer._xml.network import parse_nat_network_spec, render_nat_network
from virtumancer.lifecycle import network_diff
from virtumancer.models.network import NatNetworkSpec

pytestmark = pytest.mark.unit

SPEC = NatNetworkSpec(
    name="lab",
    address="192.168.50.1",
    prefix=24,
    dhcp_start="192.168.50.100",
    dhcp_end="192.168.50.199",
    bridge="virbr50",
)


def test_a_rendered_network_reads_back_as_its_spec() -> None:
    assert parse_nat_network_spec(render_nat_network(SPEC)) == SPEC
    assert network_diff(SPEC, parse_nat_network_spec(render_nat_network(SPEC))) == {}


def test_a_netmask_reads_as_its_prefix_and_ipv6_is_skipped() -> None:
    xml = """<network><name>old</name><forward mode='nat'/>
      <ip family='ipv6' address='fd00::1' prefix='64'/>
      <ip address='10.0.0.1' netmask='255.255.0.0'/></network>"""
    spec = parse_nat_network_spec(xml)
    assert (spec.address, spec.prefix, spec.dhcp_start, spec.bridge) == ("10.0.0.1", 16, None, None)


def test_the_diff_names_each_field_and_leaves_an_unset_bridge_alone() -> None:
    defined = parse_nat_network_spec(render_nat_network(SPEC))
    wanted = NatNetworkSpec(name="lab", address="192.168.50.1", prefix=16, autostart=True)
    assert network_diff(wanted, defined) == {
        "prefix": (24, 16),
        "dhcp_start": ("192.168.50.100", None),
        "dhcp_end": ("192.168.50.199", None),
        "autostart": (False, True),
    }
