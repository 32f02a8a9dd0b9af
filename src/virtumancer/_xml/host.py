"""Host capabilities XML and node info."""

from __future__ import annotations

from collections.abc import Sequence

from virtumancer._xml._parser import attr_int, child_text, expect_root, parse_xml
from virtumancer.models.host import GuestCapability, HostCapabilities, NodeInfo

__all__ = ["node_info_from_libvirt", "parse_capabilities"]


def parse_capabilities(xml: bytes | str) -> HostCapabilities:
    """Parse ``virConnect.getCapabilities()`` XML."""
    root = parse_xml(xml)
    expect_root(root, "capabilities")
    host = root.find("host")
    host_uuid = arch = cpu_model = None
    if host is not None:
        host_uuid = child_text(host, "uuid")
        cpu = host.find("cpu")
        if cpu is not None:
            arch = child_text(cpu, "arch")
            cpu_model = child_text(cpu, "model")
    guests = []
    for guest in root.iterfind("guest"):
        os_type = child_text(guest, "os_type") or ""
        for arch_element in guest.iterfind("arch"):
            machines: list[str] = []
            for machine in arch_element.iterfind("machine"):
                if machine.text and machine.text not in machines:
                    machines.append(machine.text)
            domain_types: list[str] = []
            for domain in arch_element.iterfind("domain"):
                kind = domain.get("type")
                if kind and kind not in domain_types:
                    domain_types.append(kind)
            guests.append(
                GuestCapability(
                    os_type=os_type,
                    arch=arch_element.get("name") or "",
                    wordsize=attr_int(child_text(arch_element, "wordsize")),
                    machines=tuple(machines),
                    domain_types=tuple(domain_types),
                )
            )
    return HostCapabilities(
        host_uuid=host_uuid,
        arch=arch or (guests[0].arch if guests else ""),
        cpu_model=cpu_model,
        guests=tuple(guests),
    )


def node_info_from_libvirt(info: Sequence[object], hostname: str) -> NodeInfo:
    """Build :class:`NodeInfo` from ``virConnect.getInfo()``'s list and the hostname.

    The list is ``[model, memory MiB, cpus, MHz, NUMA nodes, sockets, cores, threads]``.
    """
    if len(info) < 8:
        raise ValueError(f"getInfo() list has {len(info)} items, expected 8")

    def number(index: int) -> int:
        value = info[index]
        return int(value) if isinstance(value, int | float | str) else 0

    return NodeInfo(
        hostname=hostname,
        cpu_model=str(info[0]),
        memory_bytes=number(1) * 1024 * 1024,
        cpus=number(2),
        mhz=number(3),
        nodes=number(4),
        sockets=number(5),
        cores=number(6),
        threads=number(7),
    )
