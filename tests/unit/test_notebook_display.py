"""How models read in a notebook (HTML) and at a prompt (one line of text)."""

from __future__ import annotations

from typing import Any

import attrs

from virtumancer.models.devices import Disk
from virtumancer.models.domain import Domain, DomainDevices, DomainState
from virtumancer.models.network import Network
from virtumancer.notebook import ModelList, format_bytes, render_html, text_line
from virtumancer.topology import Topology, TopologyHost, TopologyVm, layout_topology

GIB = 1024**3


def _domain(name: str = "web1", **changes: Any) -> Domain:
    domain = Domain(
        uuid="8f1c7f2e-3f5d-4a3e-9f57-0a4c1d6e2b11",
        name=name,
        domain_type="kvm",
        vcpus=2,
        memory_bytes=2 * GIB,
        current_memory_bytes=2 * GIB,
        os_type="hvm",
        state=DomainState.RUNNING,
        devices=DomainDevices(
            disks=tuple(
                Disk(type="file", target_dev=f"vd{letter}", source_path=f"/img/{letter}.qcow2")
                for letter in "ab"
            )
        ),
    )
    return attrs.evolve(domain, **changes)


def test_a_domain_reads_as_one_line_not_a_dump_of_its_devices() -> None:
    line = repr(_domain())
    assert line == ("<Domain 'web1' running, 2 vCPUs, 2 GiB, 8f1c7f2e-3f5d-4a3e-9f57-0a4c1d6e2b11>")
    assert repr(_domain(state=None, vcpus=1)).startswith("<Domain 'web1' unknown, 1 vCPU,")


def test_a_list_reads_as_one_line_per_object() -> None:
    domains = ModelList([_domain("a"), _domain("b")])
    assert repr(domains).splitlines() == [
        f"[{text_line(domains[0])},",
        f" {text_line(domains[1])}]",
    ]
    assert domains == [_domain("a"), _domain("b")]  # still a list


def test_html_tables_escape_what_the_hypervisor_said() -> None:
    hostile = _domain("<script>alert(1)</script>", description='"><img src=x>')
    for page in (hostile._repr_html_(), ModelList([hostile])._repr_html_()):
        assert "<script>" not in page
        assert "<img" not in page
        assert "&lt;script&gt;" in page


def test_a_domain_table_lists_its_disks() -> None:
    page = render_html(_domain())
    assert page.count("<table") == 2  # the fields, then the disks
    assert "/img/b.qcow2" in page


def test_a_list_table_has_a_row_per_object_and_a_caption() -> None:
    networks = ModelList(
        [
            Network(uuid=f"u{i}", name=f"net{i}", bridge="virbr0", forward_mode="nat", active=True)
            for i in range(3)
        ]
    )
    page = networks._repr_html_()
    assert "3 Networks" in page
    assert page.count("<tr>") == 4  # heading + 3 rows


def test_sizes_read_in_binary_units() -> None:
    assert [format_bytes(v) for v in (None, 512, 1536, 2 * GIB)] == [
        "-",
        "512 B",
        "1.5 KiB",
        "2 GiB",
    ]


def test_the_topology_draws_itself_as_svg() -> None:
    host = TopologyHost(
        id="kvm1", state="CONNECTED", vms=(TopologyVm(host_id="kvm1", name="a", state=1),)
    )
    layout = layout_topology(Topology(hosts=(host,)))
    assert layout._repr_svg_().startswith("<svg")
    assert repr(layout) == "<TopologyLayout hosts: 1, VMs: 1, 1000x600>"


def test_the_live_table_shows_rates_once_there_are_two_samples() -> None:
    from virtumancer.models.stats import DomainRates
    from virtumancer.notebook import render_live_table

    domain = _domain()
    rates = {domain.uuid: DomainRates(interval_s=2.0, cpu_percent=12.5, net_rx_bps=2048.0)}
    page = render_live_table([domain], {}, rates, "kvm1: 1 VM")
    assert "12.5 %" in page
    assert "2 KiB/s" in page
    assert render_live_table([domain], {}, {}, "kvm1: 1 VM").count(">-<") == 3
