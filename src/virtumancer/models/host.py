"""What a hypervisor host is: its node info and its capabilities."""

from __future__ import annotations

import attrs

from virtumancer.models._display import Displayed

__all__ = ["GuestCapability", "HostCapabilities", "HostInfo", "NodeInfo"]


@attrs.frozen(kw_only=True)
class NodeInfo:
    """The physical node as ``virConnect.getInfo()`` reports it, plus its hostname.

    ``memory_bytes`` is exact bytes (libvirt reports MiB here).
    """

    hostname: str
    cpu_model: str
    memory_bytes: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


@attrs.frozen(kw_only=True)
class GuestCapability:
    """One ``<guest>`` of the capabilities: an OS type on an architecture."""

    os_type: str
    arch: str
    wordsize: int | None = None
    machines: tuple[str, ...] = ()
    domain_types: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class HostCapabilities:
    """What the hypervisor can run (``virConnect.getCapabilities()``)."""

    host_uuid: str | None = None
    arch: str
    cpu_model: str | None = None
    guests: tuple[GuestCapability, ...] = ()


@attrs.frozen(kw_only=True, repr=False)
class HostInfo(Displayed):
    """Everything static about a host: node info, capabilities and versions."""

    node: NodeInfo
    capabilities: HostCapabilities
    libvirt_version: str
    hypervisor_type: str
    hypervisor_version: str
