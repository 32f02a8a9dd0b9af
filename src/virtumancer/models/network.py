"""Virtual networks."""

from __future__ import annotations

import attrs

from virtumancer.models._display import Displayed

__all__ = ["NatNetworkSpec", "Network"]


@attrs.frozen(kw_only=True, repr=False)
class Network(Displayed):
    """A libvirt virtual network.

    ``forward_mode`` is ``None`` for an isolated network. ``active``, ``autostart`` and
    ``persistent`` are not in the XML and are filled by the pool.
    """

    uuid: str
    name: str
    bridge: str | None = None
    forward_mode: str | None = None
    active: bool | None = None
    autostart: bool | None = None
    persistent: bool | None = None


@attrs.frozen(kw_only=True)
class NatNetworkSpec:
    """A NAT network to define: the host's address on it, its prefix, a DHCP range.

    ``bridge`` ``None`` lets libvirt name the bridge (``virbrN``). Checked by
    ``define_network``: the addresses must be IPv4 and the DHCP range inside the subnet.
    """

    name: str
    address: str
    prefix: int = 24
    dhcp_start: str | None = None
    dhcp_end: str | None = None
    bridge: str | None = None
    autostart: bool = False
