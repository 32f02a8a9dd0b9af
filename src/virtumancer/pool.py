"""The connection pool: a few live libvirt connections per host, for many hosts at once.

:class:`ConnectionPool` (``async with ConnectionPool() as pool``) owns a :class:`HostPool` per
host id. Each host pool holds a small set of libvirt connections that each carry **one call
at a time** (libvirt's client crashes the process when a transport stalls under two threads'
calls -- see docs/adr/0012-stalled-transport.md): the first also carries the domain events,
more are opened on demand up to ``max_calls_per_host``. Every libvirt call runs in a worker
thread; the pool keeps the connections alive (libvirt keepalive + close callback), and after a
loss retires all of them (closed once their calls returned, never reused), releases the
callers at once, and reconnects with exponential backoff and jitter (unless a user
disconnected it), re-registering all domain event callbacks on every new connection. Domain
and host events from all hosts flow into :meth:`ConnectionPool.subscribe`.

Requires anyio on the asyncio backend. libvirt's event loop runs in a thread of its own (see
:mod:`virtumancer._libvirt.events` for why), so pools may be used from any number of event
loops, one after the other or at once.

Opening a connection runs in a thread of its own and is abandoned after ``open_timeout``
seconds: a host that accepts TCP and never speaks fails within that time, without taking a
slot from any host's limiter. Such threads count against the pool's ``max_concurrent_opens``
until they really end, so silent hosts cannot pile up threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import anyio
import anyio.abc

from virtumancer import _metrics
from virtumancer._fanout import DropOldestBuffer, Hub, Subscription
from virtumancer._libvirt import (
    LibvirtConnection,
    ListedDomain,
    connections_share_state,
    ensure_event_loop,
    quiet_libvirt_errors,
)
from virtumancer._logging import get_logger
from virtumancer._owner import Held, hold_open
from virtumancer.exceptions import (
    ConflictError,
    ConnectionLostError,
    HostUnavailableError,
    InvalidInputError,
    NotFoundError,
    OperationTimeoutError,
    VirtumancerError,
)
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.events import (
    ConnectionState,
    DomainDeviceEvent,
    HostStateChanged,
    PoolEvent,
    PowerAction,
)
from virtumancer.models.lifecycle import (
    DesiredState,
    DeviceScope,
    EnsureNetworkResult,
    EnsureResult,
    EnsureSnapshotResult,
    EnsureVolumeResult,
)
from virtumancer.models.metadata import VirtumancerMetadata
from virtumancer.uri import UriPolicy, redact_uri

if TYPE_CHECKING:
    from virtumancer.models.network import NatNetworkSpec
    from virtumancer.models.spec import VmSpec

__all__ = ["ConnectionPool", "EventSubscription", "HostPool", "ListedDomain", "PowerAction"]

T = TypeVar("T")
P = ParamSpec("P")
_log = get_logger(__name__)

#: Seconds ``power(wait=True)``, ``wait_for_state`` and ``ensure_vm`` wait by default.
DEFAULT_WAIT_S = 60.0
#: The state each power action ends in (reboot and reset have none to wait for).
_POWER_TARGETS = {
    PowerAction.START: DomainState.RUNNING,
    PowerAction.SHUTDOWN: DomainState.SHUTOFF,
    PowerAction.DESTROY: DomainState.SHUTOFF,
    PowerAction.SUSPEND: DomainState.PAUSED,
    PowerAction.RESUME: DomainState.RUNNING,
}


def _wanted_state(state: DomainState | str) -> DomainState:
    if isinstance(state, DomainState):
        return state
    try:
        return DomainState[str(state).upper().replace(" ", "")]
    except KeyError:
        names = ", ".join(member.name.lower() for member in DomainState)
        raise InvalidInputError(
            f"unknown domain state {state!r} (one of {names})", field="state"
        ) from None


async def _in_daemon_thread(fn: Callable[[], T], *, name: str) -> T:
    """Run ``fn`` in a new daemon thread and wait for it; cancelling abandons the thread.

    For calls that may hang for good (an open to a host that never answers): unlike anyio's
    worker threads, a daemon thread left behind never keeps the process from exiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.done():  # abandoned
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = fn()
        except BaseException as exc:
            outcome: tuple[T | None, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


class _OpenBudget:
    """Threads inside ``virConnectOpen`` over one pool, counted until each thread ends.

    An abandoned open keeps its thread until the peer gives up (libvirt cannot cancel it), so
    the slot is given back by the thread, not by the waiter. Used on the pool's loop only.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_use = 0
        self._freed: anyio.Event | None = None

    async def acquire(self) -> None:
        while self.in_use >= self.size:
            if self._freed is None:
                self._freed = anyio.Event()
            await self._freed.wait()
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        if self._freed is not None:
            self._freed.set()
            self._freed = None


class EventSubscription(Subscription[PoolEvent]):
    """One subscriber's view of the pool's events: an async iterator with a bounded buffer.

    When the subscriber falls behind by more than ``buffer_size`` events, the oldest are
    dropped and counted in :attr:`dropped`, so a stuck subscriber cannot grow memory or slow
    the others. Iteration ends when the subscription or the pool closes.
    """

    def __init__(self, buffer_size: int) -> None:
        if buffer_size < 1:
            raise InvalidInputError("buffer_size must be at least 1", field="buffer_size")
        self._ring = DropOldestBuffer[PoolEvent](buffer_size)
        super().__init__(self._ring)

    def __repr__(self) -> str:
        return (
            f"<EventSubscription {self.pending}/{self.buffer_size} buffered, "
            f"{self.dropped} dropped{', closed' if self.closed else ''}>"
        )

    @property
    def buffer_size(self) -> int:
        """How many events wait at most before the oldest are dropped."""
        return self._ring.size

    @property
    def dropped(self) -> int:
        """Events dropped because this subscriber fell behind."""
        return self._ring.dropped


class _Operation(Generic[P, T]):
    """A host operation: ``HostPool.<name>(...)`` awaits ``LibvirtConnection.<name>(...)``.

    The method runs in a worker thread on one of the host's connections (``HostPool._call``:
    one call at a time per connection, timeouts, loss handling). Its signature and docstring
    are the connection method's, so an operation is declared once, where it talks to libvirt.
    """

    def __init__(
        self,
        method: Callable[Concatenate[LibvirtConnection, P], T],
        on_call: Callable[[HostPool], object] | None = None,
    ) -> None:
        self.method = method
        self.on_call = on_call
        self.name = method.__name__
        self.__doc__ = method.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, host: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, host: HostPool, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(
        self, host: HostPool | None, owner: type[Any]
    ) -> Self | Callable[P, Coroutine[Any, Any, T]]:
        if host is None:
            return self
        # Looked up on each call, not bound now: a subclass or a test's spy of the
        # connection method is what runs.
        name = self.method.__name__

        on_call = self.on_call

        async def operation(*args: P.args, **kwargs: P.kwargs) -> T:
            if on_call is not None:
                on_call(host)
            result: T = await host._call(lambda conn: getattr(conn, name)(*args, **kwargs))
            return result

        operation.__name__ = operation.__qualname__ = self.name
        operation.__doc__ = self.__doc__
        return operation


def _operation(
    method: Callable[Concatenate[LibvirtConnection, P], T],
    *,
    on_call: Callable[[HostPool], object] | None = None,
) -> _Operation[P, T]:
    """Declare ``method`` of :class:`LibvirtConnection` as an async operation of a host pool.

    ``on_call(host)`` runs before each call (a metric to count it, say).
    """
    return _Operation(method, on_call)


class HostPool:
    """The pool's connection to one host; get it from :meth:`ConnectionPool.get`.

    All methods raise :class:`HostUnavailableError` when the host is not connected, and
    translate libvirt errors into the Virtumancer exception tree.
    """

    def __init__(
        self,
        owner: ConnectionPool,
        host_id: str,
        uri: str,
        *,
        auto_reconnect_disabled: bool,
        borrowed: bool = False,
    ) -> None:
        self._owner = owner
        self.host_id = host_id
        self.uri = uri
        #: An action-only connection to a host another replica owns (fleet mode, see
        #: :meth:`ConnectionPool.reach`): no events, no state published, opened on the
        #: first call and closed when idle.
        self.borrowed = borrowed
        self.last_used = 0.0
        self._state = ConnectionState.DISCONNECTED
        self._last_error: str | None = None
        self.auto_reconnect_disabled = auto_reconnect_disabled
        # The connections of the current generation: ``_conn`` carries events and calls,
        # ``_spares`` calls only; ``_idle`` are those with no call in flight (one call at a
        # time per connection). A lost generation's connections are retired, never reused.
        self._conn: LibvirtConnection | None = None
        self._spares: list[LibvirtConnection] = []
        self._idle: list[LibvirtConnection] = []
        self._opening_spares = 0
        self._no_spares_for = -1  # generation whose spare open failed: use what there is
        self._freed: anyio.Event | None = None
        self._in_flight: set[anyio.CancelScope] = set()
        self._queued = 0  # calls waiting for an idle connection
        self._limiter = anyio.CapacityLimiter(owner.max_calls_per_host)
        # Calls at once = connections at most; one if the driver keeps state per connection.
        self._max_connections = owner.max_calls_per_host if connections_share_state(uri) else 1
        self._lock = anyio.Lock()
        self._generation = 0
        self._reconnect_scope: anyio.CancelScope | None = None
        self._removed = False
        # Opens that timed out but whose thread still hangs in libvirt (see _open).
        self._hung_opens: list[threading.Event] = []

    def __repr__(self) -> str:
        stats = self._limiter.statistics()
        return (
            f"<HostPool {self.host_id} {self.state.value} "
            f"calls: {stats.borrowed_tokens} active, {stats.tasks_waiting + self._queued} queued>"
        )

    @property
    def state(self) -> ConnectionState:
        """The connection state; changes are also published as :class:`HostStateChanged`."""
        return self._state

    @property
    def last_error(self) -> str | None:
        """Why the host is in ``ERROR`` (for display); ``None`` otherwise."""
        return self._last_error

    @property
    def redacted_uri(self) -> str:
        """The URI with anything secret removed, safe to log and display."""
        return redact_uri(self.uri)

    # -- state ---------------------------------------------------------------------------

    def _set_state(self, state: ConnectionState, error: str | None = None) -> None:
        changed = state is not self._state or error != self._last_error
        self._state = state
        self._last_error = error
        if changed:
            log = _log.warning if state is ConnectionState.ERROR else _log.info
            log(
                "host %s (%s) is %s%s",
                self.host_id,
                self.redacted_uri,
                state.value,
                f": {error}" if error else "",
            )
            if not self.borrowed:  # the owner's connection speaks for the host, not this one
                self._owner._publish(
                    HostStateChanged(host_id=self.host_id, state=state, error=error)
                )

    # -- lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect now (a manual connect): clears ``auto_reconnect_disabled``.

        No-op when already connected. Raises :class:`HostUnavailableError` (or
        :class:`OperationTimeoutError` after the open timeout) when the host cannot be reached;
        the pool then keeps retrying in the background with backoff.
        """
        self.auto_reconnect_disabled = False
        try:
            await self._connect()
        except HostUnavailableError:
            self._schedule_reconnect()
            raise

    async def _connect(self) -> None:
        async with self._lock:
            if self._removed:
                raise NotFoundError("host was removed", host_id=self.host_id)
            if self.state is ConnectionState.CONNECTED:
                return
            await self._open()

    async def disconnect(self) -> None:
        """Disconnect (a user disconnect): sets ``auto_reconnect_disabled``.

        The pool will not reconnect on its own until :meth:`connect` is called.
        """
        self.auto_reconnect_disabled = True
        await self._close(ConnectionState.DISCONNECTED)

    async def _close(self, state: ConnectionState) -> None:
        self._cancel_reconnect()
        async with self._lock:
            self._generation += 1  # late close callbacks of the old connection are ignored
            conns = self._take_connections()
            self._set_state(state)
            self._wake()
        async with anyio.create_task_group() as closing:
            for conn in conns:
                closing.start_soon(self._owner._close_in_thread, conn)

    def _take_connections(self) -> list[LibvirtConnection]:
        conns = [conn for conn in (self._conn, *self._spares) if conn is not None]
        self._conn, self._spares, self._idle = None, [], []
        return conns

    async def _open(self) -> None:
        """Open the events-carrying connection of a new generation (caller holds the lock)."""
        self._generation += 1
        generation = self._generation
        self._set_state(ConnectionState.CONNECTING)
        try:
            conn = await self._open_connection(generation, events=not self.borrowed)
        except VirtumancerError as exc:
            self._set_state(ConnectionState.ERROR, exc.message)
            raise
        self._conn = conn
        self._spares, self._idle = [], [conn]
        self._set_state(ConnectionState.CONNECTED)
        self._wake()

    async def _open_connection(self, generation: int, *, events: bool) -> LibvirtConnection:
        """Open one connection; raises HostUnavailableError or OperationTimeoutError."""
        owner = self._owner
        # An open that timed out keeps its thread until the peer gives up (libvirt has no
        # open timeout of its own). Bound the threads a silent host can hold.
        self._hung_opens = [done for done in self._hung_opens if not done.is_set()]
        if len(self._hung_opens) >= owner.max_hung_opens_per_host:
            raise OperationTimeoutError(
                f"{len(self._hung_opens)} earlier connection attempts are still unanswered",
                host_id=self.host_id,
            )
        abandoned = threading.Event()
        finished = threading.Event()
        connect = functools.partial(
            LibvirtConnection.open,
            self.uri,
            host_id=self.host_id,
            # No event loop, no keepalive (libvirt sends its pings from the loop).
            keepalive_interval=owner.keepalive_interval if owner.events else 0,
            keepalive_count=owner.keepalive_count,
            on_event=owner._event_sink if events and owner.events else None,
            on_close=functools.partial(self._closed_from_libvirt, generation),
            abandoned=abandoned,
        )
        budget = owner._open_budget

        def opener() -> LibvirtConnection:
            try:
                return connect()
            finally:
                finished.set()
                owner._call_soon(budget.release)  # the slot is the thread's, not ours

        conn: LibvirtConnection | None = None
        waiting_for_slot = True
        try:
            # A thread of its own: a hung open never takes a slot from any host's calls, and
            # never keeps the process from exiting.
            with anyio.move_on_after(owner.open_timeout):
                await budget.acquire()
                waiting_for_slot = False
                conn = await _in_daemon_thread(opener, name=f"virtumancer-open-{self.host_id}")
        except BaseException as exc:
            if not waiting_for_slot:
                self._abandon(abandoned, finished)
            if isinstance(exc, VirtumancerError):
                raise HostUnavailableError(exc.message, host_id=self.host_id) from exc
            raise
        if conn is None:
            if waiting_for_slot:
                raise OperationTimeoutError(
                    f"all {budget.size} connection attempts of this pool are still waiting "
                    f"for unresponsive hosts (max_concurrent_opens)",
                    host_id=self.host_id,
                )
            self._abandon(abandoned, finished)
            raise OperationTimeoutError(
                f"no answer from the host within {owner.open_timeout:g} s", host_id=self.host_id
            )
        return conn

    def _abandon(self, abandoned: threading.Event, finished: threading.Event) -> None:
        # Timed out, failed or cancelled: if the thread's open ever succeeds after all, it
        # closes the connection again instead of leaking it; until then it counts as hung.
        abandoned.set()
        if not finished.is_set():
            self._hung_opens.append(finished)

    def _closed_from_libvirt(self, generation: int, reason: str) -> None:
        # libvirt's event loop thread: hand over to the pool's loop.
        self._owner._call_soon(self._connection_lost, generation, reason)

    def _connection_lost(self, generation: int, reason: str) -> None:
        if generation != self._generation or self._conn is None:
            return
        self._generation += 1
        # Never reused; each closes once its call in flight (if any) has returned -- closing
        # under a thread still inside libvirt is what crashes the process.
        for conn in self._take_connections():
            conn.retire()
        self._set_state(ConnectionState.ERROR, f"connection lost ({reason})")
        # The callers go now; their threads stay until libvirt's keepalive ends their RPCs.
        for scope in self._in_flight:
            scope.cancel()
        self._wake()
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        owner = self._owner
        if (
            self.auto_reconnect_disabled
            or self._removed
            or self._reconnect_scope is not None
            or owner._task_group is None
        ):
            return
        scope = anyio.CancelScope()
        self._reconnect_scope = scope
        owner._spawn(self._reconnect_loop, scope)

    def _cancel_reconnect(self) -> None:
        if self._reconnect_scope is not None:
            self._reconnect_scope.cancel()
            self._reconnect_scope = None

    async def _reconnect_loop(self, scope: anyio.CancelScope) -> None:
        owner = self._owner
        delay = owner.reconnect_initial_delay
        try:
            with scope:
                while not self.auto_reconnect_disabled and not self._removed:
                    # "Full jitter" between half and all of the delay: hosts that failed
                    # together (a network blip) do not reconnect in lockstep.
                    await anyio.sleep(delay * random.uniform(0.5, 1.0))
                    async with self._lock:
                        if self.state is ConnectionState.CONNECTED or self.auto_reconnect_disabled:
                            return
                        try:
                            await self._open()
                        except VirtumancerError as exc:
                            _log.debug("reconnect to %s failed: %s", self.host_id, exc)
                        else:
                            _metrics.HOST_RECONNECTS.inc(host=self.host_id)
                            return
                    delay = min(delay * 2, owner.reconnect_max_delay)
        finally:
            if self._reconnect_scope is scope:
                self._reconnect_scope = None

    # -- calls ---------------------------------------------------------------------------

    def _unavailable(self) -> HostUnavailableError:
        if self.state is ConnectionState.CONNECTED:  # a call of an older generation
            return ConnectionLostError(
                "the connection was lost during the call (the host reconnected since)",
                host_id=self.host_id,
            )
        detail = f": {self.last_error}" if self.last_error else ""
        error = ConnectionLostError if self.state is ConnectionState.ERROR else HostUnavailableError
        return error(f"host is {self.state.value.lower()}{detail}", host_id=self.host_id)

    def _wake(self) -> None:
        # A connection became idle, or the generation changed: callers waiting in _checkout
        # look again.
        if self._freed is not None:
            self._freed.set()
            self._freed = None

    async def _checkout(self, generation: int) -> LibvirtConnection:
        """Return an idle connection of ``generation``, opening a spare if allowed."""
        while True:
            if generation != self._generation or self.state is not ConnectionState.CONNECTED:
                raise self._unavailable()
            if self._idle:
                return self._idle.pop()
            connections = 1 + len(self._spares) + self._opening_spares
            if self._no_spares_for != generation and connections < self._max_connections:
                self._opening_spares += 1
                try:
                    conn = await self._open_connection(generation, events=False)
                except VirtumancerError as exc:
                    # Calls share the connections there are until the next reconnect.
                    _log.debug("no extra connection to %s: %s", self.host_id, exc)
                    self._no_spares_for = generation
                    continue
                finally:
                    self._opening_spares -= 1
                if generation != self._generation:
                    conn.retire()
                    raise self._unavailable()
                self._spares.append(conn)
                return conn
            if self._freed is None:
                self._freed = anyio.Event()
            self._queued += 1
            try:
                await self._freed.wait()
            finally:
                self._queued -= 1

    def _checkin(self, conn: LibvirtConnection, generation: int) -> None:
        # The pool's loop, once the worker thread is really done with ``conn`` (even if its
        # caller left at a timeout or a loss): only then may it carry another call.
        if generation == self._generation and (conn is self._conn or conn in self._spares):
            self._idle.append(conn)
            self._wake()

    def _run_on(
        self, conn: LibvirtConnection, fn: Callable[[LibvirtConnection], T], generation: int
    ) -> T:
        # A worker thread.
        try:
            return fn(conn)
        finally:
            self._owner._call_soon(self._checkin, conn, generation)

    async def _call(self, fn: Callable[[LibvirtConnection], T]) -> T:
        if self.borrowed:
            self.last_used = anyio.current_time()
            if self.state is not ConnectionState.CONNECTED:
                await self._connect()  # on demand; HostUnavailableError if it cannot
        if self.state is not ConnectionState.CONNECTED or self._conn is None:
            raise self._unavailable()
        generation = self._generation
        timeout = self._owner.call_timeout
        lost = anyio.CancelScope()  # cancelled by _connection_lost
        self._in_flight.add(lost)
        try:
            with anyio.move_on_after(timeout):
                with lost:
                    conn = await self._checkout(generation)
                    try:
                        return await anyio.to_thread.run_sync(
                            self._run_on,
                            conn,
                            fn,
                            generation,
                            limiter=self._limiter,
                            abandon_on_cancel=True,
                        )
                    except ConnectionLostError as exc:
                        # libvirt's close callback does not always fire when the transport
                        # dies with calls in flight: without this the host would stay
                        # CONNECTED and dead forever.
                        self._connection_lost(generation, exc.message)
                        raise
                raise self._unavailable()  # the connection was declared lost meanwhile
        finally:
            self._in_flight.discard(lost)
        raise OperationTimeoutError(
            f"no answer from the host within {timeout:g} s", host_id=self.host_id
        )

    async def run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(virConnect)`` in a worker thread (an escape hatch for tests and benchmarks).

        Library code outside :mod:`virtumancer._libvirt` does not use it: what it needs from
        libvirt becomes a named method here. libvirt errors raised by ``fn`` are translated
        like every other call's.
        """
        return await self._call(lambda conn: conn.call(fn))

    # Each operation is declared once, on LibvirtConnection: a line here runs it in a
    # worker thread on one of the host's connections (and SyncHost's line blocks on that).
    host_info = _operation(LibvirtConnection.host_info)
    list_domains = _operation(LibvirtConnection.list_domains)
    list_domains_with_xml = _operation(LibvirtConnection.list_domains_with_xml)
    get_domain = _operation(LibvirtConnection.get_domain)
    domain_xml = _operation(LibvirtConnection.domain_xml)
    list_storage_pools = _operation(LibvirtConnection.list_storage_pools)
    list_storage_volumes = _operation(LibvirtConnection.list_storage_volumes)
    list_networks = _operation(LibvirtConnection.list_networks)
    list_gpus = _operation(LibvirtConnection.list_gpus)
    bulk_stats = _operation(
        LibvirtConnection.bulk_stats,
        on_call=lambda host: _metrics.BULK_STATS_CALLS.inc(host=host.host_id),
    )
    set_metadata = _operation(LibvirtConnection.set_metadata)
    create_vm = _operation(LibvirtConnection.create_vm)
    define_vm_xml = _operation(LibvirtConnection.define_vm_xml)
    delete_vm = _operation(LibvirtConnection.delete_vm)
    delete_plan = _operation(LibvirtConnection.delete_plan)
    update_vm = _operation(LibvirtConnection.update_vm)
    attach_disk = _operation(LibvirtConnection.attach_disk)
    attach_interface = _operation(LibvirtConnection.attach_interface)
    create_snapshot = _operation(LibvirtConnection.create_snapshot)
    list_snapshots = _operation(LibvirtConnection.list_snapshots)
    revert_snapshot = _operation(LibvirtConnection.revert_snapshot)
    delete_snapshot = _operation(LibvirtConnection.delete_snapshot)
    clone_vm = _operation(LibvirtConnection.clone_vm)
    create_storage_pool = _operation(LibvirtConnection.create_storage_pool)
    delete_storage_pool = _operation(LibvirtConnection.delete_storage_pool)
    create_volume = _operation(LibvirtConnection.create_volume)
    copy_volume = _operation(LibvirtConnection.copy_volume)
    check_volume_copy = _operation(LibvirtConnection.check_volume_copy)
    get_volume = _operation(LibvirtConnection.get_volume)
    resize_volume = _operation(LibvirtConnection.resize_volume)
    delete_volume = _operation(LibvirtConnection.delete_volume)
    define_network = _operation(LibvirtConnection.define_network)
    get_network = _operation(LibvirtConnection.get_network)
    network_xml = _operation(LibvirtConnection.network_xml)
    start_network = _operation(LibvirtConnection.start_network)
    stop_network = _operation(LibvirtConnection.stop_network)
    delete_network = _operation(LibvirtConnection.delete_network)

    async def power(
        self,
        name_or_uuid: str,
        action: PowerAction | str,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_S,  # noqa: ASYNC109 (a timeout is part of the public API)
    ) -> None:
        """Start, shut down (ACPI), reboot, destroy (force off), reset, suspend or resume.

        Raises :class:`ConflictError` when the domain's state does not allow the action
        (starting a running domain, resuming one that is not paused ...), and
        :class:`InvalidInputError` (``field="action"``) for an unknown action. ``shutdown``
        and ``reboot`` only ask the guest, which may ignore them. With ``wait`` it returns
        once the domain reached the action's state (running, shut off, paused), seen through
        libvirt's events, or raises :class:`OperationTimeoutError` after ``timeout``
        seconds; ``reboot`` and ``reset`` have no end state to wait for and return at once.
        """
        power_action = PowerAction.parse(action, self.host_id)
        target = _POWER_TARGETS.get(power_action) if wait else None
        if target is None:
            await self._call(lambda conn: conn.power(name_or_uuid, power_action))
            return
        self._require_events()
        # Subscribed before the action: its events cannot slip past.
        async with self._owner.subscribe() as events:
            await self._call(lambda conn: conn.power(name_or_uuid, power_action))
            await self._wait_in(events, name_or_uuid, target, timeout)

    async def detach_disk(
        self,
        name_or_uuid: str,
        target: str,
        *,
        scope: DeviceScope | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_S,  # noqa: ASYNC109 (a timeout is part of the public API)
    ) -> Domain:
        """Detach the disk whose guest device is ``target`` (``vdb``); return the VM.

        Its volume is kept. :class:`NotFoundError` (``field="target"``) when the VM has no
        such disk where ``scope`` says. A live detach only asks the guest; with ``wait`` it
        returns once libvirt's ``DEVICE_REMOVED`` event says the guest let go (the VM
        re-read then), or raises :class:`OperationTimeoutError` after ``timeout`` seconds.
        A VM that is not running (or a definition-only detach) has nothing to wait for.
        """
        return await self._detach("disk", name_or_uuid, target, scope, wait, timeout)

    async def detach_interface(
        self,
        name_or_uuid: str,
        mac: str,
        *,
        scope: DeviceScope | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_S,  # noqa: ASYNC109 (a timeout is part of the public API)
    ) -> Domain:
        """Detach the NIC with MAC ``mac``; return the VM (``wait``: see :meth:`detach_disk`)."""
        return await self._detach("interface", name_or_uuid, mac, scope, wait, timeout)

    async def _detach(
        self,
        tag: str,
        key: str,
        device: str,
        scope: DeviceScope | None,
        wait: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> Domain:
        def detach(conn: LibvirtConnection) -> Domain:
            if tag == "disk":
                return conn.detach_disk(key, device, scope=scope)
            return conn.detach_interface(key, device, scope=scope)

        if not wait or scope is DeviceScope.CONFIG:
            return await self._call(detach)
        # Subscribed before the detach: the guest's answer cannot slip past.
        async with self._owner.subscribe() as events:
            alias = await self._call(lambda conn: conn.live_device_alias(key, tag, device))
            domain = await self._call(detach)
            if alias is None:
                return domain
            with anyio.move_on_after(timeout):
                async for event in events:
                    if event.host_id != self.host_id:
                        continue
                    if isinstance(event, HostStateChanged):
                        if event.state is not ConnectionState.CONNECTED:
                            raise self._unavailable()
                        continue
                    if (
                        isinstance(event, DomainDeviceEvent)
                        and event.change == "removed"
                        and event.domain_uuid == domain.uuid
                        and event.alias == alias
                    ):
                        return await self.get_domain(domain.uuid)
        raise OperationTimeoutError(
            f"the guest of {key!r} did not release {tag} {device} within {timeout:g} s",
            host_id=self.host_id,
            vm_name=key,
        )

    def _require_events(self) -> None:
        if not self._owner.events:
            raise ConflictError(
                "waiting for a state needs libvirt events: this pool has events=False",
                host_id=self.host_id,
            )

    async def wait_for_state(
        self,
        name_or_uuid: str,
        state: DomainState | str,
        timeout: float = DEFAULT_WAIT_S,  # noqa: ASYNC109 (a timeout is part of the public API)
    ) -> Domain:
        """Wait until a domain is in ``state`` (a :class:`DomainState` or its name); return it.

        Driven by libvirt's lifecycle events (the domain is re-read on each of its events),
        never by polling. Returns at once when it already is. Raises
        :class:`OperationTimeoutError` after ``timeout`` seconds, :class:`NotFoundError` if
        the domain is (or becomes) undefined, :class:`HostUnavailableError` if the host goes.
        """
        wanted = _wanted_state(state)
        self._require_events()
        async with self._owner.subscribe() as events:
            return await self._wait_in(events, name_or_uuid, wanted, timeout)

    async def _wait_in(
        self,
        events: EventSubscription,
        key: str,
        wanted: DomainState,
        timeout: float,  # noqa: ASYNC109 (a timeout is part of the public API)
    ) -> Domain:
        with anyio.move_on_after(timeout):
            domain = await self.get_domain(key)
            if domain.state is wanted:
                return domain
            async for event in events:
                if event.host_id != self.host_id:
                    continue
                if isinstance(event, HostStateChanged):
                    if event.state is not ConnectionState.CONNECTED:
                        raise self._unavailable()
                    continue
                if event.domain_uuid != domain.uuid:
                    continue
                domain = await self.get_domain(domain.uuid)
                if domain.state is wanted:
                    return domain
        raise OperationTimeoutError(
            f"domain {key!r} did not reach state {wanted.name.lower()} within {timeout:g} s",
            host_id=self.host_id,
            vm_name=key,
        )

    async def ensure_vm(
        self,
        spec: VmSpec,
        state: DesiredState | str = DesiredState.RUNNING,
        *,
        check: bool = False,
        timeout: float = DEFAULT_WAIT_S,  # noqa: ASYNC109 (a timeout is part of the public API)
    ) -> EnsureResult:
        """Bring the VM ``spec.name`` to ``spec`` and ``state``; idempotent.

        A missing VM is created (``absent``: an existing one is deleted, its volumes kept);
        an existing one gets the spec's memory, vCPUs and description (other spec fields
        are used only when creating) and is started, stopped (ACPI shutdown, forced off
        after ``timeout``), paused or resumed as needed. Asking for the state a VM is in is
        not an error. ``check`` reports what would change without changing anything.
        """
        from virtumancer.lifecycle import ensure_vm

        return await ensure_vm(self, spec, state, check=check, timeout=timeout)

    async def ensure_snapshot(
        self,
        vm: str,
        name: str,
        state: str = "present",
        *,
        memory: bool | None = None,
        description: str = "",
        check: bool = False,
    ) -> EnsureSnapshotResult:
        """Bring the snapshot ``name`` of VM ``vm`` to ``state``; idempotent but for revert.

        ``present`` takes it if missing (``memory`` as in :meth:`create_snapshot`; an
        existing snapshot is left as it is, whatever its memory or description), ``absent``
        deletes it (its children are re-parented; a missing VM has none), ``reverted``
        reverts the VM to it -- always a change, since what the guest wrote since cannot be
        seen. ``check`` reports what would change without changing anything.
        """
        from virtumancer.lifecycle import ensure_snapshot

        return await ensure_snapshot(
            self, vm, name, state, memory=memory, description=description, check=check
        )

    async def ensure_volume(
        self,
        pool_name: str,
        name: str,
        state: str = "present",
        *,
        capacity_bytes: int | None = None,
        format: str | None = None,
        check: bool = False,
    ) -> EnsureVolumeResult:
        """Bring the volume ``name`` of a storage pool to ``state``; idempotent.

        ``present`` creates a missing volume (``capacity_bytes`` required; ``format``
        ``qcow2`` unless given) and grows an existing one to ``capacity_bytes``; shrinking
        it, or a different ``format``, is a :class:`ConflictError` (naming the field).
        ``absent`` deletes it (:class:`ConflictError` while a VM uses it). A missing pool
        is :class:`NotFoundError` (``field="pool"``). ``check`` changes nothing.
        """
        from virtumancer.lifecycle import ensure_volume

        return await ensure_volume(
            self, pool_name, name, state, capacity_bytes=capacity_bytes, format=format, check=check
        )

    async def ensure_network(
        self,
        name: str,
        state: str = "started",
        *,
        spec: NatNetworkSpec | None = None,
        check: bool = False,
    ) -> EnsureNetworkResult:
        """Bring the virtual network ``name`` to ``spec`` and ``state``; idempotent.

        ``present`` defines it (a new one stays stopped), ``started``/``stopped`` also start
        or stop it, ``absent`` stops and undefines it. ``spec`` is needed to define a
        missing network; given for an existing one, its addresses, DHCP range, bridge (when
        set) and autostart are compared with the definition, and a difference replaces the
        definition (a running network shows it from its next start). ``check`` changes
        nothing.
        """
        from virtumancer.lifecycle import ensure_network

        return await ensure_network(self, name, state, spec=spec, check=check)

    async def set_metadata_many(
        self, items: Iterable[tuple[str | Domain, VirtumancerMetadata | None]]
    ) -> dict[str, VirtumancerError]:
        """Write (``None``: remove) our ``<metadata>`` element in many domains at once.

        ``items`` are ``(domain, metadata)`` pairs; ``domain`` is a name, a UUID or a
        :class:`Domain` -- a ``Domain`` (keyed by its UUID) lends its ``persistent`` and
        ``state``, saving two RPCs per domain. A stale live state costs a retry, not a
        failure, except that a domain believed shut off which started meanwhile gets only
        its persistent definition written (its live one shows it from its next start).
        All writes run in one worker-thread call, so keep batches to what may take one
        call's time (``call_timeout``). Returns the domains that could not be written,
        keyed as given (``NotFoundError`` for one undefined meanwhile ...); the others are
        written. Raises :class:`HostUnavailableError` if the connection fails.
        """
        batch = list(items)
        if not batch:
            return {}
        return await self._call(lambda conn: conn.set_metadata_many(batch))


class ConnectionPool:
    """Connections to many hosts, keyed by host id; use as ``async with ConnectionPool() as p``.

    Options:

    - ``uri_policy`` -- which URIs :meth:`add_host` accepts (:class:`~virtumancer.UriPolicy`);
      without it, the default policy with ``allow_test_uris`` (accept libvirt's
      ``test``/``test+unix`` drivers) and ``extra_socket_dirs`` (more directories a
      ``socket=`` URI parameter may point into).
    - ``max_calls_per_host`` -- calls one host may run at once; each runs on a connection of
      its own (one call at a time per connection), opened on demand. Hosts on libvirt's test
      driver with a node file get one connection (its state is per connection).
    - ``open_timeout`` -- seconds before an open is abandoned (a host that never answers).
    - ``call_timeout`` -- seconds before a call is abandoned (``None``: never).
    - ``keepalive_interval``/``keepalive_count`` -- libvirt keepalive: a silent peer is
      declared dead after about ``interval * (count + 1)`` seconds.
    - ``reconnect_initial_delay``/``reconnect_max_delay`` -- exponential backoff bounds.
    - ``event_buffer`` -- default per-subscriber buffer of :meth:`subscribe`.
    - ``max_concurrent_opens`` -- threads inside ``virConnectOpen`` at once, over all hosts,
      counting abandoned opens until their thread ends; beyond it, an open waits for a slot
      within its ``open_timeout``, then fails with :class:`OperationTimeoutError`.
    - ``max_hung_opens_per_host`` -- timed-out opens whose thread still waits on a silent
      peer (libvirt cannot cancel them); beyond this, attempts fail at once.
    - ``events`` -- ``False`` for a one-shot caller (a CLI call): no libvirt event loop
      thread, no domain events, no keepalive. Every call then costs less (libvirt does not
      hand each RPC's socket watch to the loop thread), but :meth:`HostPool.wait_for_state`
      and ``power(wait=True)`` are refused (:class:`ConflictError`) and a dead peer is only
      noticed by ``call_timeout``.
    """

    def __init__(
        self,
        *,
        allow_test_uris: bool = True,
        extra_socket_dirs: Iterable[str] = (),
        uri_policy: UriPolicy | None = None,
        max_calls_per_host: int = 4,
        open_timeout: float = 8.0,
        call_timeout: float | None = 120.0,
        keepalive_interval: int = 5,
        keepalive_count: int = 3,
        reconnect_initial_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        event_buffer: int = 1024,
        max_concurrent_opens: int = 32,
        max_hung_opens_per_host: int = 4,
        events: bool = True,
    ) -> None:
        self.uri_policy = uri_policy or UriPolicy.default(
            allow_test=allow_test_uris, extra_socket_dirs=extra_socket_dirs
        )
        self.max_calls_per_host = max_calls_per_host
        self.open_timeout = open_timeout
        self.call_timeout = call_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_count = keepalive_count
        self.reconnect_initial_delay = reconnect_initial_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.event_buffer = event_buffer
        self.max_hung_opens_per_host = max_hung_opens_per_host
        self.events = events
        self._open_budget = _OpenBudget(max_concurrent_opens)
        self._hosts: dict[str, HostPool] = {}
        #: Fleet mode: the URI of a host this pool does not hold (another replica owns it),
        #: or ``None`` for an unknown host; :meth:`reach` borrows a connection with it.
        self.lender: Callable[[str], str | None] | None = None
        #: Seconds an action-only (borrowed) connection stays open without a call.
        self.borrow_idle_timeout = 60.0
        self._borrowed: dict[str, HostPool] = {}
        self._reaping = False
        self._events = Hub[PoolEvent, EventSubscription](
            lambda: EventSubscription(self.event_buffer)
        )
        self._lock = anyio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._held: Held | None = None

    def __repr__(self) -> str:
        states = Counter(host.state.value for host in self._hosts.values())
        summary = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        return (
            f"<ConnectionPool hosts: {len(self._hosts)}{f' ({summary})' if summary else ''} "
            f"subscribers: {len(self._events)}>"
        )

    async def __aenter__(self) -> Self:
        if self._exit_stack is not None:
            raise ConflictError("the pool is already open")
        # libvirt's event implementation must exist before the first connection is opened.
        await anyio.to_thread.run_sync(ensure_event_loop if self.events else quiet_libvirt_errors)
        self._loop = asyncio.get_running_loop()
        async with AsyncExitStack() as stack:
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.push_async_callback(self._shutdown)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None

    async def open(self) -> Self:
        """Open the pool like ``async with``, but so that any task may :meth:`aclose` it.

        For notebooks, where each cell is a task of its own: ``await pool.open()`` in one
        cell, ``await pool.aclose()`` in a later one. The pool's background tasks then run
        in a task of their own.
        """
        self._held = await hold_open(self)
        return self

    async def aclose(self) -> None:
        """Close every connection, stop background tasks and end every subscription."""
        held, self._held = self._held, None
        if held is not None:
            await held.close()  # its task exits ``async with``, which comes back here
            return
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()

    async def _shutdown(self) -> None:
        tg = self._task_group
        with anyio.CancelScope(shield=True):
            # All at once: one unresponsive host must not hold up closing the others.
            async with anyio.create_task_group() as closing:
                for host in [*self._hosts.values(), *self._borrowed.values()]:
                    host._removed = True
                    closing.start_soon(host._close, ConnectionState.DISCONNECTED)
            self._hosts.clear()
            self._borrowed.clear()
        if tg is not None:
            tg.cancel_scope.cancel()
        self._task_group = None
        self._events.close()

    # -- hosts ---------------------------------------------------------------------------

    async def add_host(
        self,
        host_id: str,
        uri: str,
        *,
        connect: bool = True,
        auto_reconnect_disabled: bool = False,
    ) -> HostPool:
        """Add a host (checking ``uri`` against the URI policy) and, by default, connect.

        Raises :class:`~virtumancer.exceptions.UriPolicyError` for a refused URI,
        :class:`ConflictError` if ``host_id`` is taken, and :class:`HostUnavailableError`
        (the host is then not added) if ``connect`` is true and the connection fails.
        ``auto_reconnect_disabled`` is kept as given (a host the user disconnected earlier).
        """
        if self._task_group is None:
            raise ConflictError("the pool is not open (use `async with`)", host_id=host_id)
        if not host_id:
            raise InvalidInputError("host id must not be empty", field="id")
        self.uri_policy.check(uri)
        async with self._lock:
            if host_id in self._hosts:
                raise ConflictError("a host with this id already exists", host_id=host_id)
            host = HostPool(self, host_id, uri, auto_reconnect_disabled=auto_reconnect_disabled)
            self._hosts[host_id] = host
        await self._return_borrowed(host_id)  # owned now: the events-carrying one serves
        if connect:
            try:
                await host._connect()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.remove_host(host_id)
                raise
        return host

    async def _adopt_host(self, host_id: str, uri: str, conn: LibvirtConnection) -> HostPool:
        """Add a host whose connection is already open (the sync facade's, on its first use
        of an event-driven operation); the connection's callbacks must call ``_event_sink``
        and the returned host's ``_closed_from_libvirt(host._generation, reason)``."""
        host = await self.add_host(host_id, uri, connect=False)
        async with host._lock:
            host._generation += 1
            host._conn = conn
            host._spares, host._idle = [], [conn]
            host._set_state(ConnectionState.CONNECTED)
        return host

    async def remove_host(self, host_id: str) -> None:
        """Disconnect a host and forget it; :class:`NotFoundError` if unknown."""
        await self._return_borrowed(host_id)
        async with self._lock:
            host = self.get(host_id)
            del self._hosts[host_id]
        host._removed = True
        await host._close(ConnectionState.DISCONNECTED)

    def get(self, host_id: str) -> HostPool:
        """Return the host pool of ``host_id``; :class:`NotFoundError` if unknown."""
        try:
            return self._hosts[host_id]
        except KeyError:
            raise NotFoundError("no such host", host_id=host_id) from None

    def hosts(self) -> list[HostPool]:
        """Return every host pool, in the order they were added (never borrowed ones)."""
        return list(self._hosts.values())

    # -- borrowed (action-only) connections ------------------------------------------------

    def reach(self, host_id: str) -> HostPool:
        """Return the host pool to act on ``host_id`` with: the held one, else a borrowed one.

        Without a :attr:`lender` (a single process) this is :meth:`get`. In fleet mode a host
        another replica owns is reached through an action-only connection of this pool:
        opened on its first call, without events (the owner's connection sees the change and
        syncs it), closed after :attr:`borrow_idle_timeout` seconds without a call.
        :class:`NotFoundError` if the host is unknown.
        """
        held = self._hosts.get(host_id)
        if held is not None:
            return held
        borrowed = self._borrowed.get(host_id)
        uri = self.lender(host_id) if self.lender is not None else None
        if uri is None:
            raise NotFoundError("no such host", host_id=host_id)
        if borrowed is not None and borrowed.uri == uri:
            return borrowed
        if self._task_group is None:
            raise ConflictError("the pool is not open (use `async with`)", host_id=host_id)
        self.uri_policy.check(uri)
        if borrowed is not None:  # the host's URI changed: the old one closes when idle
            borrowed._removed = True
            self._spawn(borrowed._close, ConnectionState.DISCONNECTED)
        host = HostPool(self, host_id, uri, auto_reconnect_disabled=True, borrowed=True)
        host.last_used = anyio.current_time()
        self._borrowed[host_id] = host
        if not self._reaping:
            self._reaping = True
            self._spawn(self._reap_borrowed)
        return host

    def borrowed(self) -> list[HostPool]:
        """Return the action-only host pools open now (fleet mode; for tests and metrics)."""
        return list(self._borrowed.values())

    async def _return_borrowed(self, host_id: str) -> None:
        host = self._borrowed.pop(host_id, None)
        if host is not None:
            host._removed = True
            await host._close(ConnectionState.DISCONNECTED)

    async def _reap_borrowed(self) -> None:
        try:
            while self._borrowed:
                await anyio.sleep(max(0.05, min(self.borrow_idle_timeout / 4, 5.0)))
                now = anyio.current_time()
                for host_id, host in list(self._borrowed.items()):
                    idle = now - host.last_used >= self.borrow_idle_timeout
                    gone = self.lender is None or self.lender(host_id) is None
                    if (idle or gone) and not host._in_flight:
                        if self._borrowed.get(host_id) is host:
                            del self._borrowed[host_id]
                        host._removed = True
                        await host._close(ConnectionState.DISCONNECTED)
        finally:
            self._reaping = False

    # -- events --------------------------------------------------------------------------

    def subscribe(
        self, *, buffer_size: int | None = None
    ) -> AbstractAsyncContextManager[EventSubscription]:
        """Subscribe to events of every host: ``async with pool.subscribe() as events:``.

        ``events`` is an async iterator of :data:`~virtumancer.models.events.PoolEvent` with
        a bounded buffer (``buffer_size``, default the pool's ``event_buffer``); see
        :class:`EventSubscription`. Events published before subscribing are not replayed.
        """
        return self._events.subscribe(EventSubscription(buffer_size or self.event_buffer))

    def _publish(self, event: PoolEvent) -> None:
        # Runs on the pool's event loop.
        self._events.publish(event)

    def _event_sink(self, event: PoolEvent) -> None:
        # Runs on libvirt's event loop thread.
        self._call_soon(self._publish, event)

    # -- plumbing ------------------------------------------------------------------------

    def _call_soon(self, fn: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(fn, *args)

    def _spawn(self, fn: Callable[..., Any], *args: object) -> None:
        if self._task_group is not None:
            self._task_group.start_soon(fn, *args)

    async def _close_in_thread(self, conn: LibvirtConnection) -> None:
        # A dead peer can make close() slow: never wait more than the open timeout for it.
        with anyio.move_on_after(self.open_timeout, shield=True):
            drain = functools.partial(conn.close, drain_timeout=self.call_timeout)
            await _in_daemon_thread(drain, name=f"virtumancer-close-{conn.host_id}")
