"""Hosts and their VMs as a graph: a deterministic circular layout and an SVG picture; pure.

The API document's "Network Topology Visualization" describes the picture: hosts on a circle
around the centre, each host's VMs on a smaller circle around it, nodes coloured by their
:class:`~virtumancer.models.status.StatusCategory`. This module computes exactly that from the
records the facade returns, with no I/O; it is the only layout there is. The service sends it
as ``GET /api/v1/topology`` and the browser only draws the positions it is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from virtumancer.models.domain import domain_status
from virtumancer.models.events import host_status
from virtumancer.models.records import HostRecord, VmRecord
from virtumancer.models.status import StatusCategory

__all__ = [
    "PlacedNode",
    "Topology",
    "TopologyHost",
    "TopologyLayout",
    "TopologyVm",
    "build_topology",
    "canvas_size",
    "layout_topology",
    "render_svg",
]


@attrs.frozen(kw_only=True)
class TopologyVm:
    """A VM node: its host, name and libvirt state number."""

    host_id: str
    name: str
    state: int

    @property
    def status(self) -> StatusCategory:
        """The status category of this VM."""
        return domain_status(self.state)


@attrs.frozen(kw_only=True)
class TopologyHost:
    """A host node with its VMs, sorted by name."""

    id: str
    state: str
    vms: tuple[TopologyVm, ...] = ()

    @property
    def status(self) -> StatusCategory:
        """The status category of this host."""
        return host_status(self.state)


@attrs.frozen(kw_only=True)
class Topology:
    """Hosts (sorted by id), each with its VMs: the graph the pictures are drawn from."""

    hosts: tuple[TopologyHost, ...] = ()

    @property
    def vm_count(self) -> int:
        """The number of VMs on all hosts."""
        return sum(len(host.vms) for host in self.hosts)


def build_topology(hosts: Iterable[HostRecord], vms: Mapping[str, Iterable[VmRecord]]) -> Topology:
    """Build the graph from the facade's host list and ``{host_id: VMs}``.

    Hosts and VMs are sorted (hosts by id, VMs by name) so the same inventory always gives the
    same picture, whatever order the database returned. VMs of a host missing from ``hosts``
    are left out.
    """
    nodes = []
    for host in sorted(hosts, key=lambda h: h.id):
        host_vms = sorted(vms.get(host.id, ()), key=lambda v: v.name)
        nodes.append(
            TopologyHost(
                id=host.id,
                state=host.state,
                vms=tuple(
                    TopologyVm(host_id=host.id, name=v.name, state=v.state) for v in host_vms
                ),
            )
        )
    return Topology(hosts=tuple(nodes))


@attrs.frozen(kw_only=True)
class PlacedNode:
    """A node with its position (centre) and radius, in SVG user units."""

    kind: str  # "host" or "vm"
    id: str  # host id, or "host_id/vm_name"
    label: str
    status: StatusCategory
    x: float
    y: float
    r: float
    host_id: str
    label_x: float = 0.0
    label_y: float = 0.0
    label_anchor: str = "middle"  # SVG text-anchor of the label


@attrs.frozen(kw_only=True)
class TopologyLayout:
    """Where every node goes: hosts, VMs, and the host-to-VM links as node id pairs."""

    width: float
    height: float
    hosts: tuple[PlacedNode, ...]
    vms: tuple[PlacedNode, ...]
    links: tuple[tuple[str, str], ...]

    def node(self, node_id: str) -> PlacedNode:
        """Return the placed node with this id (``KeyError`` if absent)."""
        for node in (*self.hosts, *self.vms):
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def __repr__(self) -> str:
        return (
            f"<TopologyLayout hosts: {len(self.hosts)}, VMs: {len(self.vms)}, "
            f"{self.width:g}x{self.height:g}>"
        )

    def _repr_svg_(self) -> str:
        # Jupyter's SVG display hook: the same picture the web UI draws.
        return render_svg(self)


HOST_RADIUS: Final = 28.0
VM_RADIUS: Final = 12.0
_LABEL_ROOM: Final = 24.0


def canvas_size(host_count: int) -> tuple[float, float]:
    """Return the picture size that suits ``host_count`` hosts: 1000 wide, 600 to 900 tall."""
    return 1000.0, float(max(600, min(900, 440 + 70 * host_count)))


def layout_topology(
    topology: Topology, *, width: float | None = None, height: float | None = None
) -> TopologyLayout:
    """Place hosts evenly on a circle around the centre and each host's VMs around it.

    Without ``width``/``height`` the picture has the :func:`canvas_size` of the host count.

    The first host sits at the top (12 o'clock), the others follow clockwise. A single host
    sits at the centre. Each host's VMs sit on a ring around it, the first one pointing away
    from the centre; the rings use the room there is, are never so small that VMs overlap,
    and neighbouring rings stay apart. Labels point away from their host. Pure and
    deterministic.
    """
    fitted_width, fitted_height = canvas_size(len(topology.hosts))
    width = fitted_width if width is None else width
    height = fitted_height if height is None else height
    cx, cy = width / 2, height / 2
    count = len(topology.hosts)
    room = min(cx, cy) - VM_RADIUS - _LABEL_ROOM
    # The VM ring must hold the busiest host's VMs without overlap (arc ≥ 3 VM radii) ...
    most_vms = max((len(host.vms) for host in topology.hosts), default=0)
    min_ring = max(HOST_RADIUS + 2.5 * VM_RADIUS, 3 * VM_RADIUS * most_vms / (2 * math.pi))
    if count <= 1:
        vm_ring = max(min_ring, 0.6 * room)
        host_ring = 0.0
    else:
        # ... and otherwise use the room there is while neighbouring rings stay apart:
        # 2·host_ring·sin(π/n) ≥ 3.2·vm_ring (room for labels) with host_ring = room - vm_ring.
        s = math.sin(math.pi / count)
        vm_ring = max(min_ring, min(0.45 * room, room * s / (1.6 + s)))
        host_ring = max(0.0, room - vm_ring)

    hosts: list[PlacedNode] = []
    vms: list[PlacedNode] = []
    links: list[tuple[str, str]] = []
    for index, host in enumerate(topology.hosts):
        angle = -math.pi / 2 + 2 * math.pi * index / count if count else 0.0
        hx = cx + host_ring * math.cos(angle)
        hy = cy + host_ring * math.sin(angle)
        hosts.append(
            PlacedNode(
                kind="host",
                id=host.id,
                label=host.id,
                status=host.status,
                x=hx,
                y=hy,
                r=HOST_RADIUS,
                host_id=host.id,
                label_x=hx,
                label_y=hy + HOST_RADIUS + 14,
                label_anchor="middle",
            )
        )
        # Point the VM ring outward from the centre (upward for a lone host).
        outward = angle if count > 1 else -math.pi / 2
        for vm_index, vm in enumerate(host.vms):
            vm_angle = outward + 2 * math.pi * vm_index / len(host.vms)
            cos, sin = math.cos(vm_angle), math.sin(vm_angle)
            vx, vy = hx + vm_ring * cos, hy + vm_ring * sin
            node_id = f"{host.id}/{vm.name}"
            # Labels point away from the host so they do not cross the links.
            anchor = "start" if cos > 0.3 else "end" if cos < -0.3 else "middle"
            reach = VM_RADIUS + 4
            vms.append(
                PlacedNode(
                    kind="vm",
                    id=node_id,
                    label=vm.name,
                    status=vm.status,
                    x=vx,
                    y=vy,
                    r=VM_RADIUS,
                    host_id=host.id,
                    label_x=vx + reach * cos,
                    label_y=vy + (reach + 8) * sin + 4,
                    label_anchor=anchor,
                )
            )
            links.append((host.id, node_id))
    return TopologyLayout(
        width=width, height=height, hosts=tuple(hosts), vms=tuple(vms), links=tuple(links)
    )


def _num(value: float) -> str:
    return f"{value:.1f}"


def render_svg(layout: TopologyLayout, *, legend: bool = True) -> str:
    """Render a layout as a standalone SVG document (a ``str``).

    Each node is a ``<g class="node host|vm" data-id=...>`` holding a circle filled with its
    status colour and a text label; links are grey lines drawn below the nodes. Labels are
    escaped, so any VM name is safe to embed. With ``legend`` a status legend is drawn at the
    top left.
    """
    # Here, not at the top: xml.sax.saxutils pulls in urllib and email, which the JSON
    # converter (it imports this module for the layout types) never needs.
    from xml.sax.saxutils import escape, quoteattr

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(layout.width)}" '
        f'height="{_num(layout.height)}" viewBox="0 0 {_num(layout.width)} '
        f'{_num(layout.height)}" font-family="sans-serif" font-size="11">',
        "<title>Virtumancer network topology</title>",
        '<g class="links" stroke="#9ca3af" stroke-width="1.5">',
    ]
    placed = {node.id: node for node in (*layout.hosts, *layout.vms)}
    for source, target in layout.links:
        a, b = placed[source], placed[target]
        parts.append(f'<line x1="{_num(a.x)}" y1="{_num(a.y)}" x2="{_num(b.x)}" y2="{_num(b.y)}"/>')
    parts.append("</g>")
    for node in (*layout.hosts, *layout.vms):
        parts.append(
            f'<g class="node {node.kind}" data-id={quoteattr(node.id)} '
            f'data-status="{node.status}">'
            f"<title>{escape(node.label)} ({node.status})</title>"
            f'<circle cx="{_num(node.x)}" cy="{_num(node.y)}" r="{_num(node.r)}" '
            f'fill="{node.status.color}" stroke="#1f2937" stroke-width="1"/>'
            f'<text x="{_num(node.label_x)}" y="{_num(node.label_y)}" '
            f'text-anchor="{node.label_anchor}" fill="#111827" stroke="#ffffff" '
            f'stroke-width="3" paint-order="stroke">{escape(node.label)}</text></g>'
        )
    if legend:
        parts.append('<g class="legend">')
        for row, status in enumerate(StatusCategory):
            y = 16 + row * 18
            parts.append(
                f'<circle cx="14" cy="{y}" r="6" fill="{status.color}"/>'
                f'<text x="26" y="{y + 4}" fill="#111827">{escape(status.label)}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
