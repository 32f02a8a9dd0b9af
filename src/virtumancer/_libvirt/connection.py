"""One libvirt connection and the blocking operations on it.

Everything here blocks and must run in a worker thread (the pool does that). Every method
translates ``libvirtError`` through :func:`~virtumancer._libvirt.errors.translate_error`.
Callbacks given to :meth:`LibvirtConnection.open` run on libvirt's event loop thread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import attrs
import libvirt

from virtumancer._libvirt.clone import CloneOperations
from virtumancer._libvirt.errors import translate_error
from virtumancer._libvirt.lifecycle import LifecycleOperations
from virtumancer._libvirt.snapshots import SnapshotOperations
from virtumancer._libvirt.storage_network import (
    StorageNetworkOperations,
    network_model,
    pool_model,
)
from virtumancer._libvirt.vm_devices import DeviceOperations
from virtumancer._xml.domain import parse_domain
from virtumancer._xml.metadata import render_metadata
from virtumancer.exceptions import ConflictError, HostUnavailableError, VirtumancerError
from virtumancer.models.domain import ACTIVE_DOMAIN_STATES, Domain, DomainState
from virtumancer.models.metadata import METADATA_NAMESPACE, METADATA_PREFIX, VirtumancerMetadata

# What a plain domain listing does not need is imported where it is used: a one-shot script
# pays for the models and parsers it touches only (issue 11, cold start).
if TYPE_CHECKING:
    import datetime as dt

    from virtumancer.models.events import LifecycleEventType, PoolEvent, PowerAction
    from virtumancer.models.host import HostInfo
    from virtumancer.models.network import Network
    from virtumancer.models.nodedev import GpuDevice
    from virtumancer.models.stats import DomainStatsSample
    from virtumancer.models.storage import StoragePool, StorageVolume

__all__ = ["LibvirtConnection", "ListedDomain", "call_translated", "connections_share_state"]

P = ParamSpec("P")
T = TypeVar("T")


@functools.cache  # the event models are imported by the first connection that takes events
def _lifecycle_types() -> list[LifecycleEventType]:
    from virtumancer.models.events import LifecycleEventType

    return list(LifecycleEventType)[:-1]  # libvirt's order; UNKNOWN is ours


@functools.cache  # on the first lifecycle event: a scan of libvirt's ~1300 names is ~2 ms
def _detail_names() -> dict[tuple[int, int], str]:
    names: dict[tuple[int, int], str] = {}
    for index, kind in enumerate(_lifecycle_types()):
        prefix = f"VIR_DOMAIN_EVENT_{kind.name}_"
        for attr in dir(libvirt):
            if attr.startswith(prefix) and not attr.endswith("_LAST"):
                names[(index, getattr(libvirt, attr))] = attr[len(prefix) :].lower()
    return names


# SECURE so the parser sees whether graphics have a password (it keeps only the presence,
# never the value); listings therefore hold such XML in memory only, never log or return it.
_DOMAIN_XML_FLAGS = libvirt.VIR_DOMAIN_XML_SECURE
_METADATA_KINDS = {0: "description", 1: "title", 2: "element"}
_ACTIVE_STATES = ACTIVE_DOMAIN_STATES
_INACTIVE_STATES = frozenset(DomainState) - ACTIVE_DOMAIN_STATES


_PowerRow = tuple[frozenset[DomainState], str, Callable[[Any], object]]


@functools.cache  # a listing does not import the action enum
def _power_table() -> dict[PowerAction, _PowerRow]:
    """Per power action: the states it needs, the word for the error, the libvirt call."""
    from virtumancer.models.events import PowerAction

    running = frozenset({DomainState.RUNNING, DomainState.BLOCKED})
    paused = frozenset({DomainState.PAUSED})
    return {
        PowerAction.START: (_INACTIVE_STATES, "already running", lambda dom: dom.create()),
        PowerAction.SHUTDOWN: (_ACTIVE_STATES, "not running", lambda dom: dom.shutdown()),
        PowerAction.REBOOT: (_ACTIVE_STATES, "not running", lambda dom: dom.reboot(0)),
        PowerAction.DESTROY: (_ACTIVE_STATES, "not running", lambda dom: dom.destroy()),
        PowerAction.RESET: (_ACTIVE_STATES, "not running", lambda dom: dom.reset(0)),
        PowerAction.SUSPEND: (running, "not running", lambda dom: dom.suspend()),
        PowerAction.RESUME: (paused, "not paused", lambda dom: dom.resume()),
    }


_EVENT_IDS = (
    "VIR_DOMAIN_EVENT_ID_LIFECYCLE",
    "VIR_DOMAIN_EVENT_ID_REBOOT",
    "VIR_DOMAIN_EVENT_ID_DEVICE_ADDED",
    "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED",
    "VIR_DOMAIN_EVENT_ID_METADATA_CHANGE",
)
# The stats groups parse_domain_stats reads; asking for "all" (0) would also make QEMU collect
# perf counters, iothreads, dirty rates ... that nobody looks at.
STATS_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
# Disks whose capacity virDomainGetBlockInfo reads from the host (a network disk would make
# the daemon talk to a remote store on a read).
_BLOCK_INFO_TYPES = frozenset({"file", "block"})
_CLOSE_REASONS = {0: "error", 1: "end of file", 2: "keepalive timeout", 3: "closed by client"}


def call_translated(
    fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:  # pragma: no cover - trivial
    """Call ``fn`` and translate a ``libvirtError`` it raises (no host context)."""
    try:
        return fn(*args, **kwargs)
    except libvirt.libvirtError as exc:
        raise translate_error(exc) from exc


def connections_share_state(uri: str) -> bool:
    """Whether every connection to ``uri`` sees the same hypervisor state.

    True for real drivers. libvirt's test driver gives each connection to a custom node file
    a copy of its own (only ``test:///default`` is shared), so a pool must not spread one
    host's calls over several connections to such a URI: a write on one would be invisible
    on the next.
    """
    from urllib.parse import urlsplit  # not at the top: a local URI needs no parse here

    parts = urlsplit(uri)
    driver = parts.scheme.partition("+")[0].lower()
    return driver != "test" or parts.path in ("", "/default")


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _utcnow() -> dt.datetime:
    import datetime as dt  # only stats and events carry times

    return dt.datetime.now(dt.UTC)


def _looks_like_uuid(key: str) -> bool:
    hexdigits = key.replace("-", "")
    return len(hexdigits) == 32 and all(ch in "0123456789abcdefABCDEF" for ch in hexdigits)


@attrs.frozen(kw_only=True)
class ListedDomain:
    """A domain as one listing saw it: its XML, the pure parse of that XML, and the domain.

    ``parsed`` is :func:`~virtumancer._xml.parse_domain` of ``xml`` (no runtime fields);
    ``domain`` is ``parsed`` with ``state``, ``persistent`` (and ``autostart`` if asked for)
    filled. Hand a listing's entries back, keyed by UUID, as the ``previous`` of the next
    listing so unchanged XML is not parsed again. ``xml`` is the secure form (it may hold
    graphics passwords): keep it in memory for comparison only; never log or return it.
    """

    xml: bytes = attrs.field(repr=False)
    parsed: Domain
    domain: Domain


@attrs.define(eq=False)
class LibvirtConnection(
    LifecycleOperations,
    DeviceOperations,
    SnapshotOperations,
    CloneOperations,
    StorageNetworkOperations,
):
    """An open ``virConnect`` with our callbacks registered; closed by :meth:`close`."""

    host_id: str
    raw: Any  # libvirt.virConnect
    callback_ids: list[int]
    #: whether getAllDomainStats accepts VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
    stats_nowait: bool = True
    #: virDomain handles by UUID, for domainListGetStats on a subset without lookups
    domain_handles: dict[str, Any] = attrs.field(factory=dict)
    # Calls in flight, so the connection is never freed under another thread's feet: once
    # retired, the last call out closes it (libvirt requires a reference per thread; ours is
    # this count). See docs/adr/0012-stalled-transport.md.
    _users: int = attrs.field(default=0, init=False, repr=False)
    _closing: bool = attrs.field(default=False, init=False, repr=False)
    _close_started: bool = attrs.field(default=False, init=False, repr=False)
    _closed: threading.Event = attrs.field(factory=threading.Event, init=False, repr=False)
    _guard: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    # -- opening and closing -----------------------------------------------------------

    @classmethod
    def open(
        cls,
        uri: str,
        *,
        host_id: str,
        keepalive_interval: int,
        keepalive_count: int,
        on_event: Callable[[PoolEvent], None] | None,
        on_close: Callable[[str], None],
        abandoned: threading.Event | None = None,
    ) -> LibvirtConnection:
        """Open ``uri`` and register keepalive, the close callback and every domain event.

        Runs in a thread of its own (an open can hang). If ``abandoned`` is set by the time
        the open finishes, the connection is closed again and ``HostUnavailableError`` raised.
        ``on_event=None`` registers no domain events (a connection for calls only).
        """
        try:
            raw = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            error = translate_error(exc, host_id=host_id)
            raise HostUnavailableError(error.message, host_id=host_id) from exc
        connection = cls(host_id=host_id, raw=raw, callback_ids=[])
        try:
            connection._register(keepalive_interval, keepalive_count, on_event, on_close)
        except BaseException:
            connection.close()
            raise
        if abandoned is not None and abandoned.is_set():
            connection.close()
            raise HostUnavailableError("open abandoned after its timeout", host_id=host_id)
        return connection

    def _register(
        self,
        keepalive_interval: int,
        keepalive_count: int,
        on_event: Callable[[PoolEvent], None] | None,
        on_close: Callable[[str], None],
    ) -> None:
        raw = self.raw
        with contextlib.suppress(libvirt.libvirtError):
            # local drivers (test:///) have no transport to keep alive
            raw.setKeepAlive(keepalive_interval, keepalive_count)

        def closed(_conn: Any, reason: int, _opaque: object) -> None:
            on_close(_CLOSE_REASONS.get(reason, f"reason {reason}"))

        with contextlib.suppress(libvirt.libvirtError):
            raw.registerCloseCallback(closed, None)
        if on_event is not None:
            self.register_events(on_event)

    def register_events(self, on_event: Callable[[PoolEvent], None]) -> None:
        """Register every domain event, delivered to ``on_event`` on libvirt's loop thread.

        :meth:`open` does this when given ``on_event``; the blocking facade does it later, when
        it first needs events (a one-shot script never does, and saves the five RPCs).
        """
        raw = self.raw
        handlers = self._event_handlers(on_event)
        for name in _EVENT_IDS:
            event_id = getattr(libvirt, name, None)
            if event_id is None:
                continue
            try:
                self.callback_ids.append(
                    raw.domainEventRegisterAny(None, event_id, handlers[name], None)
                )
            except libvirt.libvirtError as exc:
                if exc.get_error_code() in (
                    libvirt.VIR_ERR_NO_SUPPORT,
                    libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
                    libvirt.VIR_ERR_INVALID_ARG,
                ):
                    continue  # an older daemon without this event
                raise translate_error(exc, host_id=self.host_id) from exc

    def _event_handlers(self, emit: Callable[[PoolEvent], None]) -> dict[str, Any]:
        from virtumancer.models.events import (
            DomainDeviceEvent,
            DomainLifecycleEvent,
            DomainMetadataChangeEvent,
            DomainRebootEvent,
            LifecycleEventType,
        )

        lifecycle_types = _lifecycle_types()
        host_id = self.host_id
        handles = self.domain_handles

        def lifecycle(_c: Any, dom: Any, event: int, detail: int, _o: object) -> None:
            kind = (
                lifecycle_types[event]
                if 0 <= event < len(lifecycle_types)
                else LifecycleEventType.UNKNOWN
            )
            uuid = dom.UUIDString()
            if kind is LifecycleEventType.UNDEFINED:
                handles.pop(uuid, None)
            emit(
                DomainLifecycleEvent(
                    host_id=host_id,
                    domain_uuid=uuid,
                    domain_name=dom.name(),
                    event=kind,
                    detail=_detail_names().get((event, detail), str(detail)),
                )
            )

        def reboot(_c: Any, dom: Any, _o: object) -> None:
            emit(
                DomainRebootEvent(
                    host_id=host_id, domain_uuid=dom.UUIDString(), domain_name=dom.name()
                )
            )

        def device(change: str) -> Callable[[Any, Any, str, object], None]:
            def handler(_c: Any, dom: Any, alias: str, _o: object) -> None:
                emit(
                    DomainDeviceEvent(
                        host_id=host_id,
                        domain_uuid=dom.UUIDString(),
                        domain_name=dom.name(),
                        change="added" if change == "added" else "removed",
                        alias=alias,
                    )
                )

            return handler

        def metadata(_c: Any, dom: Any, mtype: int, nsuri: str | None, _o: object) -> None:
            emit(
                DomainMetadataChangeEvent(
                    host_id=host_id,
                    domain_uuid=dom.UUIDString(),
                    domain_name=dom.name(),
                    kind=_METADATA_KINDS.get(mtype, str(mtype)),
                    namespace=nsuri or None,
                )
            )

        return {
            "VIR_DOMAIN_EVENT_ID_LIFECYCLE": lifecycle,
            "VIR_DOMAIN_EVENT_ID_REBOOT": reboot,
            "VIR_DOMAIN_EVENT_ID_DEVICE_ADDED": device("added"),
            "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED": device("removed"),
            "VIR_DOMAIN_EVENT_ID_METADATA_CHANGE": metadata,
        }

    def close(self, *, drain_timeout: float | None = 120.0) -> None:
        """Retire the connection and wait (up to ``drain_timeout`` seconds) until it is closed.

        New calls fail at once; calls in flight are never cut off: the last one to return
        closes the connection. If they do not return in time, this returns and they close it
        later -- never is it freed under a thread still inside libvirt (that crashed).
        """
        if self._mark_closing():
            self._close_now()
        else:
            self._closed.wait(drain_timeout)

    def retire(self) -> None:
        """Take no new calls; close in a daemon thread once the calls in flight returned.

        Returns at once (an RPC on a dead transport may take until libvirt's keepalive ends
        it). Errors while closing are ignored: the peer may be gone.
        """
        if self._mark_closing():
            self._close_in_daemon_thread()

    @property
    def closed(self) -> bool:
        """Whether the connection has been closed (after :meth:`retire` or :meth:`close`)."""
        return self._closed.is_set()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the connection is closed (or ``timeout``); return whether it is."""
        return self._closed.wait(timeout)

    def _mark_closing(self) -> bool:
        # True for the one caller that must close now: closing, idle, and nobody closed yet.
        with self._guard:
            self._closing = True
            if self._users or self._close_started:
                return False
            self._close_started = True
            return True

    def _close_in_daemon_thread(self) -> None:
        threading.Thread(
            target=self._close_now, name=f"virtumancer-close-{self.host_id}", daemon=True
        ).start()

    def _close_now(self) -> None:
        raw = self.raw
        try:
            for callback_id in self.callback_ids:
                with contextlib.suppress(libvirt.libvirtError):
                    raw.domainEventDeregisterAny(callback_id)
            self.callback_ids.clear()
            with contextlib.suppress(libvirt.libvirtError):
                raw.unregisterCloseCallback()
            with contextlib.suppress(libvirt.libvirtError):
                raw.close()
        finally:
            self._closed.set()

    def is_alive(self) -> bool:
        """Return whether libvirt still considers the connection alive (no RPC)."""
        try:
            return bool(self.raw.isAlive())
        except libvirt.libvirtError:
            return False

    # -- plumbing ------------------------------------------------------------------------

    def call(self, fn: Callable[[Any], T], *, vm_name: str | None = None) -> T:
        """Run ``fn(virConnect)`` and translate libvirt errors with our context."""
        with self._guard:
            if self._closing:
                raise HostUnavailableError("the connection was closed", host_id=self.host_id)
            self._users += 1
        try:
            return fn(self.raw)
        except libvirt.libvirtError as exc:
            raise translate_error(exc, host_id=self.host_id, vm_name=vm_name) from exc
        finally:
            if self._leave():  # retired meanwhile: the last call out closes it
                self._close_in_daemon_thread()

    def _leave(self) -> bool:
        # True for the last call out of a retired connection: it must close it.
        with self._guard:
            self._users -= 1
            if not self._closing or self._users or self._close_started:
                return False
            self._close_started = True
            return True

    def _lookup(self, key: str) -> Any:
        raw = self.raw
        if _looks_like_uuid(key):
            try:
                return raw.lookupByUUIDString(key)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return raw.lookupByName(key)

    # -- host ----------------------------------------------------------------------------

    def host_info(self) -> HostInfo:
        """Return node info, hostname, capabilities and versions (six RPCs)."""
        from virtumancer._xml.host import node_info_from_libvirt, parse_capabilities
        from virtumancer.models.host import HostInfo

        def work(raw: Any) -> HostInfo:
            return HostInfo(
                node=node_info_from_libvirt(raw.getInfo(), raw.getHostname()),
                capabilities=parse_capabilities(raw.getCapabilities()),
                libvirt_version=_version(raw.getLibVersion()),
                hypervisor_type=raw.getType(),
                hypervisor_version=_version(raw.getVersion()),
            )

        return self.call(work)

    # -- domains -------------------------------------------------------------------------

    def list_domains(self) -> list[Domain]:
        """List every domain with state, autostart and persistence filled.

        Costs four RPCs plus one ``XMLDesc`` per domain; see :meth:`list_domains_with_xml`.
        """
        return [entry.domain for entry in self.list_domains_with_xml()]

    def list_domains_with_xml(
        self,
        previous: Mapping[str, ListedDomain] | None = None,
        *,
        autostart: bool = True,
    ) -> list[ListedDomain]:
        """List every domain with its XML, reusing the parse of XML that did not change.

        ``previous`` maps UUIDs to the entries of an earlier listing: a domain whose XML is
        byte-for-byte what that entry holds is not parsed again. Costs three RPCs for the
        host (every domain, the persistent ones, the state of all from one bulk stats call),
        a fourth for the autostart ones unless ``autostart`` is false (``autostart`` then
        stays ``None``), plus one ``XMLDesc`` per domain. Domains that vanish mid-way are
        skipped.
        """
        previous = previous or {}

        def work(raw: Any) -> list[ListedDomain]:
            doms = raw.listAllDomains(0)
            persistent = {
                d.UUIDString()
                for d in raw.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)
            }
            autostarting: set[str] | None = None
            if autostart:
                autostarting = {
                    d.UUIDString()
                    for d in raw.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
                }
            states = self._all_states(raw)
            result = []
            handles: dict[str, Any] = {}
            for dom in doms:
                uuid = dom.UUIDString()
                handles[uuid] = dom
                try:
                    xml = dom.XMLDesc(_DOMAIN_XML_FLAGS).encode()
                    state = states[uuid] if uuid in states else dom.state()[0]
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                        continue  # undefined meanwhile
                    raise
                before = previous.get(uuid)
                parsed = before.parsed if before is not None and before.xml == xml else None
                if parsed is None:
                    parsed = parse_domain(xml)
                domain = attrs.evolve(
                    parsed,
                    state=_domain_state(state),
                    autostart=None if autostarting is None else uuid in autostarting,
                    persistent=uuid in persistent,
                )
                result.append(ListedDomain(xml=xml, parsed=parsed, domain=domain))
            # At the end, not one by one: replacing a handle frees the old one, which lets
            # other threads take the GIL between RPCs and measurably slows the loop.
            self.domain_handles.update(handles)
            return result

        return self.call(work)

    def _all_states(self, raw: Any) -> dict[str, int]:
        """Return every domain's state from one bulk stats call; ``{}`` if the driver has none."""
        try:
            records = self._all_stats(raw, libvirt.VIR_DOMAIN_STATS_STATE)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (
                libvirt.VIR_ERR_NO_SUPPORT,
                libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
            ):
                raise
            return {}  # callers ask each domain instead
        return {dom.UUIDString(): record.get("state.state", 0) for dom, record in records}

    def get_domain(
        self, name_or_uuid: str, *, disk_sizes: Mapping[str, int] | None = None
    ) -> Domain:
        """Return one domain by name or UUID, with state, autostart and persistence.

        Five RPCs. With ``disk_sizes`` (capacity by source path, e.g. of the host's pool
        volumes) each disk's ``size_bytes`` is filled: from ``disk_sizes`` when its path is
        there, else from ``virDomainGetBlockInfo`` (one RPC per such disk) -- a file or block
        device in no pool. A disk whose block info libvirt cannot give keeps ``None``.
        """

        def work(raw: Any) -> Domain:
            dom = self._lookup(name_or_uuid)
            xml = dom.XMLDesc(_DOMAIN_XML_FLAGS)
            domain = attrs.evolve(
                parse_domain(xml),
                state=_domain_state(dom.state()[0]),
                autostart=bool(dom.autostart()),
                persistent=bool(dom.isPersistent()),
            )
            if disk_sizes is None:
                return domain
            return _with_disk_sizes(dom, domain, disk_sizes)

        return self.call(work, vm_name=name_or_uuid)

    def domain_xml(self, name_or_uuid: str, *, inactive: bool = False) -> bytes:
        """Return a domain's XML (the persistent definition if ``inactive``)."""
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        return self.call(
            lambda raw: str(self._lookup(name_or_uuid).XMLDesc(flags)).encode(),
            vm_name=name_or_uuid,
        )

    def power(self, key: str, action: PowerAction) -> None:
        """Apply a power action; ``ConflictError`` when the domain's state does not allow it."""

        def work(raw: Any) -> None:
            dom = self._lookup(key)
            state = _domain_state(dom.state()[0])
            allowed, why, apply = _power_table()[action]
            if state not in allowed:
                raise ConflictError(
                    f"cannot {action} domain {dom.name()!r}: it is {why}"
                    f" (state {state.name.lower()})",
                    host_id=self.host_id,
                    vm_name=dom.name(),
                )
            apply(dom)

        self.call(work, vm_name=key)

    def set_metadata(self, name_or_uuid: str, metadata: VirtumancerMetadata | None) -> None:
        """Write our ``<metadata>`` element into a domain (``None`` removes it).

        Written into the live domain if it runs and into its persistent definition if it has
        one. Raises :class:`NotFoundError` if there is no such domain.
        """
        xml = _metadata_xml(metadata)
        self.call(
            lambda raw: self._write_metadata(self._lookup(name_or_uuid), xml), vm_name=name_or_uuid
        )

    def set_metadata_many(
        self, items: Iterable[tuple[str | Domain, VirtumancerMetadata | None]]
    ) -> dict[str, VirtumancerError]:
        """Write (or remove) our element in many domains; return the failures by key.

        Each item is ``(domain, metadata)``: ``domain`` is a name, a UUID, or a
        :class:`Domain` (keyed by its UUID), whose ``persistent`` and ``state`` then spare
        the two RPCs that learn where to write. When libvirt refuses a write because those
        were stale (a live write to a domain that stopped), it is retried once with what
        libvirt says; a domain believed shut off that started meanwhile gets only its
        persistent definition written. A domain that fails (gone, refused ...) is reported
        in the result and the others are still written; a lost connection raises
        :class:`HostUnavailableError` at once.
        """
        rendered: dict[VirtumancerMetadata | None, str | None] = {}
        # (key, is it a known UUID, XML, persistent, active)
        work_items: list[tuple[str, bool, str | None, bool | None, bool | None]] = []
        for target, metadata in items:
            if metadata not in rendered:
                rendered[metadata] = _metadata_xml(metadata)
            if isinstance(target, Domain):
                state = target.state
                active = None if state in (None, DomainState.NOSTATE) else state in _ACTIVE_STATES
                work_items.append(
                    (target.uuid, True, rendered[metadata], target.persistent, active)
                )
            else:
                work_items.append((target, False, rendered[metadata], None, None))

        def work(raw: Any) -> dict[str, VirtumancerError]:
            failures: dict[str, VirtumancerError] = {}
            for key, is_uuid, xml, persistent, active in work_items:
                try:
                    dom = raw.lookupByUUIDString(key) if is_uuid else self._lookup(key)
                    self._write_metadata(dom, xml, persistent, active)
                except libvirt.libvirtError as exc:
                    error = translate_error(exc, host_id=self.host_id, vm_name=key)
                    if isinstance(error, HostUnavailableError):
                        raise error from exc  # every other write would fail the same way
                    failures[key] = error
            return failures

        return self.call(work)

    @staticmethod
    def _write_metadata(
        dom: Any,
        xml: str | None,
        persistent: bool | None = None,
        active: bool | None = None,
    ) -> None:
        """Call ``setMetadata`` on the live and/or persistent definition, as the domain has.

        ``persistent``/``active`` are what the caller knows (``None``: ask libvirt). If
        libvirt refuses the write as invalid for the domain's state, they were stale: ask
        and retry once.
        """
        key = None if xml is None else METADATA_PREFIX
        element = libvirt.VIR_DOMAIN_METADATA_ELEMENT
        try:
            flags = _affect_flags(dom, persistent, active)
            dom.setMetadata(element, xml, key, METADATA_NAMESPACE, flags)
        except libvirt.libvirtError as exc:
            hinted = persistent is not None or active is not None
            if not hinted or exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise
            dom.setMetadata(element, xml, key, METADATA_NAMESPACE, _affect_flags(dom))

    # -- stats ---------------------------------------------------------------------------

    def _all_stats(self, raw: Any, stats: int, doms: list[Any] | None = None) -> list[Any]:
        flags = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT if self.stats_nowait else 0
        while True:
            try:
                if doms is None:
                    return list(raw.getAllDomainStats(stats, flags))
                return list(raw.domainListGetStats(doms, stats, flags))
            except libvirt.libvirtError as exc:
                unsupported = exc.get_error_code() in (
                    libvirt.VIR_ERR_INVALID_ARG,
                    libvirt.VIR_ERR_NO_SUPPORT,
                )
                if not (flags and unsupported):
                    raise
                # An older daemon: remember and retry without NOWAIT (once per connection).
                self.stats_nowait = False
                flags = 0

    def bulk_stats(self, domain_uuids: Collection[str] | None = None) -> list[DomainStatsSample]:
        """Return stats samples of all domains, or of those in ``domain_uuids``, in one call.

        A subset uses ``domainListGetStats`` when every handle is known from earlier calls or
        events, and otherwise ``getAllDomainStats`` filtered here -- one RPC either way.
        Unknown UUIDs are ignored.
        """
        from virtumancer.models.stats import parse_domain_stats

        def work(raw: Any) -> list[DomainStatsSample]:
            handles = self.domain_handles
            if domain_uuids is None:
                records = self._all_stats(raw, STATS_GROUPS)
            else:
                wanted = {uuid.lower() for uuid in domain_uuids}
                if not wanted:
                    return []
                known = [h for h in (handles.get(u) for u in wanted) if h is not None]
                if len(known) == len(wanted):
                    records = self._all_stats(raw, STATS_GROUPS, known)
                else:
                    records = [
                        (dom, record)
                        for dom, record in self._all_stats(raw, STATS_GROUPS)
                        if dom.UUIDString() in wanted
                    ]
            timestamp_ns = time.monotonic_ns()
            wallclock = _utcnow()
            samples = []
            for dom, record in records:
                uuid = dom.UUIDString()
                handles[uuid] = dom
                samples.append(
                    parse_domain_stats(
                        record,
                        uuid=uuid,
                        name=dom.name(),
                        timestamp_ns=timestamp_ns,
                        wallclock=wallclock,
                    )
                )
            return samples

        return self.call(work)

    # -- storage, networks, node devices -------------------------------------------------

    def list_storage_pools(self) -> list[StoragePool]:
        """List storage pools with state, sizes, autostart and persistence."""
        return self.call(lambda raw: [pool_model(pool) for pool in raw.listAllStoragePools(0)])

    def list_storage_volumes(self, pool_name: str | None = None) -> list[StorageVolume]:
        """List the volumes of every active pool, or of the pool named ``pool_name``."""
        from virtumancer._xml.storage import parse_storage_volume

        def work(raw: Any) -> list[StorageVolume]:
            if pool_name is not None:
                pools = [raw.storagePoolLookupByName(pool_name)]
            else:
                pools = raw.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
            result = []
            for pool in pools:
                if not pool.isActive():
                    continue
                name = pool.name()
                for volume in pool.listAllVolumes(0):
                    result.append(parse_storage_volume(volume.XMLDesc(0), pool_name=name))
            return result

        return self.call(work)

    def list_networks(self) -> list[Network]:
        """List virtual networks with active, autostart and persistence."""
        return self.call(lambda raw: [network_model(net) for net in raw.listAllNetworks(0)])

    def list_gpus(self) -> list[GpuDevice]:
        """List the host's PCI display controllers."""
        from virtumancer._xml.nodedev import parse_node_device

        def work(raw: Any) -> list[GpuDevice]:
            devices = raw.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV)
            parsed = (parse_node_device(device.XMLDesc(0)) for device in devices)
            return [gpu for gpu in parsed if gpu is not None]

        return self.call(work)


def _with_disk_sizes(dom: Any, domain: Domain, known: Mapping[str, int]) -> Domain:
    """Fill ``size_bytes`` of a domain's disks from ``known`` paths, else from block info."""
    disks = []
    for disk in domain.devices.disks:
        size = disk.size_bytes
        path = disk.source_path
        if size is None and path is not None:
            size = known.get(path)
            if size is None and disk.type in _BLOCK_INFO_TYPES:
                try:
                    size = int(dom.blockInfo(disk.target_dev, 0)[0])
                except libvirt.libvirtError as exc:
                    if isinstance(translate_error(exc), HostUnavailableError):
                        raise  # the connection is gone, not this disk's block info
                    size = None  # a missing file, an empty drive ...: unknown, not an error
        disks.append(disk if size == disk.size_bytes else attrs.evolve(disk, size_bytes=size))
    return attrs.evolve(domain, devices=attrs.evolve(domain.devices, disks=tuple(disks)))


def _affect_flags(dom: Any, persistent: bool | None = None, active: bool | None = None) -> int:
    """Return the ``VIR_DOMAIN_AFFECT_*`` flags for a domain, asking libvirt what is ``None``."""
    if persistent is None:
        persistent = bool(dom.isPersistent())
    if active is None:
        active = bool(dom.isActive())
    return (libvirt.VIR_DOMAIN_AFFECT_CONFIG if persistent else 0) | (
        libvirt.VIR_DOMAIN_AFFECT_LIVE if active else 0
    )


def _metadata_xml(metadata: VirtumancerMetadata | None) -> str | None:
    """Return what ``setMetadata`` takes for ``metadata`` (``None`` removes our element)."""
    return None if metadata is None else render_metadata(metadata, bare=True).decode()


def _domain_state(value: object) -> DomainState:
    try:
        return DomainState(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return DomainState.NOSTATE
