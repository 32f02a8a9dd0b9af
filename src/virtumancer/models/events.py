"""Events the connection pool emits: domain changes seen by libvirt, and host state changes.

Every event is a frozen attrs instance with the ``host_id`` it came from and a timezone-aware
UTC ``timestamp`` of when the pool received it. Events include changes made behind
Virtumancer's back (``virsh``, another manager), since they come from libvirt itself.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal

import attrs

from virtumancer.exceptions import InvalidInputError
from virtumancer.models.status import StatusCategory

__all__ = [
    "ConnectionState",
    "DomainDeviceEvent",
    "DomainLifecycleEvent",
    "DomainMetadataChangeEvent",
    "DomainRebootEvent",
    "HostStateChanged",
    "LifecycleEventType",
    "PoolEvent",
    "PowerAction",
    "host_status",
]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ConnectionState(enum.StrEnum):
    """The state of the pool's connection to one host."""

    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    ERROR = "ERROR"

    @property
    def status(self) -> StatusCategory:
        """The category this connection state is shown in (connected is active ...)."""
        return _CONNECTION_STATUS[self]


# The one table of what each connection state means to a person.
_CONNECTION_STATUS: dict[ConnectionState, StatusCategory] = {
    ConnectionState.CONNECTED: StatusCategory.ACTIVE,
    ConnectionState.CONNECTING: StatusCategory.WARNING,
    ConnectionState.DISCONNECTED: StatusCategory.STOPPED,
    ConnectionState.ERROR: StatusCategory.ERROR,
}


def host_status(state: str) -> StatusCategory:
    """Return the category of a connection state word (``"CONNECTED"`` ...); unknown is error."""
    try:
        return ConnectionState(state.upper()).status
    except ValueError:
        return StatusCategory.ERROR


class LifecycleEventType(enum.StrEnum):
    """libvirt's ``VIR_DOMAIN_EVENT_*`` lifecycle kinds, in libvirt's numbering order."""

    DEFINED = "defined"
    UNDEFINED = "undefined"
    STARTED = "started"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    STOPPED = "stopped"
    SHUTDOWN = "shutdown"
    PMSUSPENDED = "pmsuspended"
    CRASHED = "crashed"
    #: A lifecycle kind newer than this library.
    UNKNOWN = "unknown"


class PowerAction(enum.StrEnum):
    """What :meth:`virtumancer.pool.HostPool.power` can do to a domain.

    ``shutdown`` asks the guest (ACPI) and may be ignored by it; ``destroy`` is a forced power
    off; ``reset`` a forced reset; ``reboot`` asks the guest to reboot.
    """

    START = "start"
    SHUTDOWN = "shutdown"
    REBOOT = "reboot"
    DESTROY = "destroy"
    RESET = "reset"
    SUSPEND = "suspend"
    RESUME = "resume"

    @classmethod
    def parse(cls, action: PowerAction | str, host_id: str | None = None) -> PowerAction:
        """Return ``action`` as a member; ``InvalidInputError`` (``field="action"``) if unknown."""
        try:
            return cls(action)
        except ValueError:
            raise InvalidInputError(
                f"unknown power action {action!r} (one of {', '.join(cls)})",
                field="action",
                host_id=host_id,
            ) from None


@attrs.frozen(kw_only=True)
class DomainLifecycleEvent:
    """A domain was defined, started, stopped, suspended ... (``VIR_DOMAIN_EVENT_ID_LIFECYCLE``).

    ``detail`` is libvirt's detail reason in lower case (``"destroyed"``, ``"booted"``,
    ``"paused"`` ...), or the raw number as a string when it is unknown to this library.
    """

    host_id: str
    domain_uuid: str
    domain_name: str
    event: LifecycleEventType
    detail: str
    timestamp: dt.datetime = attrs.field(factory=_utcnow)


@attrs.frozen(kw_only=True)
class DomainDeviceEvent:
    """A device was hot-plugged into or removed from a domain; ``alias`` is its device alias."""

    host_id: str
    domain_uuid: str
    domain_name: str
    change: Literal["added", "removed"]
    alias: str
    timestamp: dt.datetime = attrs.field(factory=_utcnow)


@attrs.frozen(kw_only=True)
class DomainRebootEvent:
    """A running domain rebooted (``VIR_DOMAIN_EVENT_ID_REBOOT``)."""

    host_id: str
    domain_uuid: str
    domain_name: str
    timestamp: dt.datetime = attrs.field(factory=_utcnow)


@attrs.frozen(kw_only=True)
class DomainMetadataChangeEvent:
    """A domain's title, description or ``<metadata>`` element changed.

    ``kind`` is ``"title"``, ``"description"`` or ``"element"``; ``namespace`` is the element's
    namespace URI for ``"element"`` and ``None`` otherwise.
    """

    host_id: str
    domain_uuid: str
    domain_name: str
    kind: str
    namespace: str | None = None
    timestamp: dt.datetime = attrs.field(factory=_utcnow)


@attrs.frozen(kw_only=True)
class HostStateChanged:
    """The pool's connection to a host changed state; ``error`` says why, for display."""

    host_id: str
    state: ConnectionState
    error: str | None = None
    timestamp: dt.datetime = attrs.field(factory=_utcnow)


PoolEvent = (
    DomainLifecycleEvent
    | DomainDeviceEvent
    | DomainRebootEvent
    | DomainMetadataChangeEvent
    | HostStateChanged
)
