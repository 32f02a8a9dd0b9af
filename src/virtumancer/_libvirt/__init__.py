"""The only importer of ``libvirt``: connections, the event loop thread, error mapping."""

from __future__ import annotations

from virtumancer._libvirt.connection import (
    LibvirtConnection,
    ListedDomain,
    connections_share_state,
)
from virtumancer._libvirt.errors import translate_error
from virtumancer._libvirt.events import ensure_event_loop, quiet_libvirt_errors

__all__ = [
    "LibvirtConnection",
    "ListedDomain",
    "connections_share_state",
    "ensure_event_loop",
    "quiet_libvirt_errors",
    "translate_error",
]
