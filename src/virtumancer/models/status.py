"""The one status category every VM and host is shown in, with the API document's colours."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["StatusCategory"]


class StatusCategory(enum.StrEnum):
    """What a VM or host state means to a person: the API document's colour legend.

    Domain states map through :attr:`DomainState.status
    <virtumancer.models.domain.DomainState.status>`, connection states through
    :attr:`ConnectionState.status <virtumancer.models.events.ConnectionState.status>`; the
    dashboard counters, the topology and the badges all use these, so they agree.
    """

    ACTIVE = "active"
    WARNING = "warning"
    STOPPED = "stopped"
    ERROR = "error"

    @property
    def color(self) -> str:
        """The API document's colour (``#rrggbb``) for this category."""
        return _COLORS[self]

    @property
    def label(self) -> str:
        """A short legend text naming what falls in this category."""
        return _LABELS[self]


# The API document's "Status Color Coding", defined here and nowhere else.
_COLORS: Final = {
    StatusCategory.ACTIVE: "#10b981",
    StatusCategory.WARNING: "#f59e0b",
    StatusCategory.STOPPED: "#ef4444",
    StatusCategory.ERROR: "#dc2626",
}
_LABELS: Final = {
    StatusCategory.ACTIVE: "Connected / running",
    StatusCategory.WARNING: "Paused / connecting",
    StatusCategory.STOPPED: "Disconnected / stopped",
    StatusCategory.ERROR: "Error / crashed",
}
