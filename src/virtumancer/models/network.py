"""Virtual networks."""

from __future__ import annotations

import attrs

from virtumancer.models._display import Displayed

__all__ = ["Network"]


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
