"""Notifications the services publish after database writes (for the WebSocket)."""

from __future__ import annotations

import attrs

__all__ = ["HostsChanged", "Notification", "TaskUpdated", "VmsChanged"]


@attrs.frozen(kw_only=True)
class HostsChanged:
    """A host was added, removed, or changed state: re-fetch the host list."""


@attrs.frozen(kw_only=True)
class VmsChanged:
    """The VM list of ``host_id`` changed: re-fetch it."""

    host_id: str


@attrs.frozen(kw_only=True)
class TaskUpdated:
    """Task ``task_id`` changed state or progress: re-read it."""

    task_id: str


Notification = HostsChanged | VmsChanged | TaskUpdated
