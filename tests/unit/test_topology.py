"""The topology picture: hosts on a circle, VMs around their host, the API document's colours."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from virtumancer.models.records import GraphicsFlags, HostRecord, VmRecord
from virtumancer.models.status import StatusCategory
from virtumancer.topology import build_topology, canvas_size, layout_topology, render_svg

pytestmark = pytest.mark.unit

COLOR_ACTIVE = StatusCategory.ACTIVE.color
COLOR_STOPPED = StatusCategory.STOPPED.color
COLOR_WARNING = StatusCategory.WARNING.color
COLOR_ERROR = StatusCategory.ERROR.color

_T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_SVG = "{http://www.w3.org/2000/svg}"


def _host(host_id: str, state: str = "CONNECTED") -> HostRecord:
    return HostRecord(
        id=host_id,
        uri="test:///default",
        state=state,
        auto_reconnect_disabled=False,
        created_at=_T0,
    )


def _vm(host_id: str, name: str, state: int = 1) -> VmRecord:
    return VmRecord(
        db_id=0,
        name=name,
        description="",
        vcpu_count=1,
        memory_bytes=1 << 30,
        state=state,
        graphics=GraphicsFlags(),
        created_at=_T0,
        updated_at=_T0,
        host_id=host_id,
    )


def _inventory() -> tuple[list[HostRecord], dict[str, list[VmRecord]]]:
    hosts = [_host("kvm2", "DISCONNECTED"), _host("kvm1"), _host("kvm3", "ERROR")]
    vms = {
        "kvm1": [_vm("kvm1", "web", 1), _vm("kvm1", "db", 5), _vm("kvm1", "cache", 3)],
        "kvm2": [_vm("kvm2", "old", 5)],
        "kvm3": [],
    }
    return hosts, vms


def test_hosts_sit_evenly_on_a_circle_around_the_centre() -> None:
    hosts, vms = _inventory()
    layout = layout_topology(build_topology(hosts, vms), width=800, height=600)

    assert [h.id for h in layout.hosts] == ["kvm1", "kvm2", "kvm3"]
    distances = [math.dist((h.x, h.y), (400, 300)) for h in layout.hosts]
    assert max(distances) - min(distances) < 1e-6
    assert distances[0] > 50
    # first host at 12 o'clock, then clockwise at 120° steps
    assert layout.hosts[0].x == pytest.approx(400)
    assert layout.hosts[0].y < 300
    angles = sorted(math.atan2(h.y - 300, h.x - 400) for h in layout.hosts)
    steps = [b - a for a, b in itertools.pairwise(angles)]
    assert steps == pytest.approx([2 * math.pi / 3] * 2)


def test_vms_sit_around_their_own_host_and_link_to_it() -> None:
    hosts, vms = _inventory()
    layout = layout_topology(build_topology(hosts, vms), width=800, height=600)

    kvm1 = layout.node("kvm1")
    ring = [math.dist((v.x, v.y), (kvm1.x, kvm1.y)) for v in layout.vms if v.host_id == "kvm1"]
    assert len(ring) == 3
    assert max(ring) - min(ring) < 1e-6
    # nearer its own host than any other host
    for vm in layout.vms:
        own = layout.node(vm.host_id)
        for other in layout.hosts:
            if other.id != vm.host_id:
                assert math.dist((vm.x, vm.y), (own.x, own.y)) < math.dist(
                    (vm.x, vm.y), (other.x, other.y)
                )
    assert set(layout.links) == {
        ("kvm1", "kvm1/cache"),
        ("kvm1", "kvm1/db"),
        ("kvm1", "kvm1/web"),
        ("kvm2", "kvm2/old"),
    }


def test_every_node_stays_inside_the_picture_even_with_many_vms() -> None:
    hosts = [_host(f"h{i}") for i in range(5)]
    vms = {f"h{i}": [_vm(f"h{i}", f"vm{j:02}") for j in range(12)] for i in range(5)}
    layout = layout_topology(build_topology(hosts, vms), width=1000, height=800)

    assert len(layout.vms) == 60
    for node in (*layout.hosts, *layout.vms):
        assert node.r <= node.x <= 1000 - node.r
        assert node.r <= node.y <= 800 - node.r
    # no two nodes overlap
    nodes = [*layout.hosts, *layout.vms]
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            assert math.dist((a.x, a.y), (b.x, b.y)) > a.r + b.r


def test_layout_is_deterministic_whatever_the_input_order() -> None:
    hosts, vms = _inventory()
    first = layout_topology(build_topology(hosts, vms))
    shuffled = {k: list(reversed(v)) for k, v in reversed(list(vms.items()))}
    second = layout_topology(build_topology(list(reversed(hosts)), shuffled))
    assert first == second
    assert render_svg(first) == render_svg(second)


def test_a_single_host_sits_in_the_centre() -> None:
    layout = layout_topology(
        build_topology([_host("only")], {"only": [_vm("only", "a")]}), width=400, height=400
    )
    assert (layout.hosts[0].x, layout.hosts[0].y) == (200, 200)
    assert layout.vms[0].y < 200


def test_empty_inventory_gives_an_empty_but_valid_picture() -> None:
    svg = render_svg(layout_topology(build_topology([], {})))
    root = ET.fromstring(  # noqa: S314 -- our own output
        svg
    )
    assert root.tag == f"{_SVG}svg"
    assert not root.findall(f".//{_SVG}g[@class='node host']")


def test_svg_colours_nodes_by_status_with_the_documented_colours() -> None:
    hosts, vms = _inventory()
    root = ET.fromstring(  # noqa: S314 -- our own output
        render_svg(layout_topology(build_topology(hosts, vms)))
    )

    def fill(node_id: str) -> str:
        group = root.find(f".//{_SVG}g[@data-id='{node_id}']")
        assert group is not None, node_id
        circle = group.find(f"{_SVG}circle")
        assert circle is not None
        return circle.attrib["fill"]

    assert fill("kvm1") == COLOR_ACTIVE == "#10b981"
    assert fill("kvm2") == COLOR_STOPPED == "#ef4444"
    assert fill("kvm3") == COLOR_ERROR == "#dc2626"
    assert fill("kvm1/web") == COLOR_ACTIVE
    assert fill("kvm1/db") == COLOR_STOPPED
    assert fill("kvm1/cache") == COLOR_WARNING == "#f59e0b"
    legend = root.find(f".//{_SVG}g[@class='legend']")
    assert legend is not None
    assert {c.attrib["fill"] for c in legend.iter(f"{_SVG}circle")} == {
        COLOR_ACTIVE,
        COLOR_STOPPED,
        COLOR_WARNING,
        COLOR_ERROR,
    }
    assert len(root.findall(f".//{_SVG}line")) == 4


def test_hostile_names_are_escaped_in_the_svg() -> None:
    name = '<script>alert("x")</script>&'
    svg = render_svg(layout_topology(build_topology([_host("h")], {"h": [_vm("h", name)]})))
    root = ET.fromstring(  # noqa: S314 -- our own output
        svg
    )  # still well-formed
    assert "<script>" not in svg
    texts = [t.text for t in root.iter(f"{_SVG}text")]
    assert name in texts


def test_unknown_status_is_drawn_as_error() -> None:
    layout = layout_topology(build_topology([_host("h", "WEIRD")], {"h": [_vm("h", "v", 99)]}))
    assert layout.hosts[0].status is StatusCategory.ERROR
    assert layout.vms[0].status is StatusCategory.ERROR


def test_the_default_picture_fits_the_host_count() -> None:
    hosts, vms = _inventory()
    layout = layout_topology(build_topology(hosts, vms))
    assert (layout.width, layout.height) == canvas_size(3) == (1000.0, 650.0)
    assert canvas_size(0) == (1000.0, 600.0)
    assert canvas_size(50) == (1000.0, 900.0)
