"""A blocking facade for scripts, Ansible modules and notebooks.

    with virtumancer.connect("qemu:///system") as host:
        for domain in host.domains():
            print(domain.name, domain.state)
        host.start("web1")

Plain calls run straight on one libvirt connection, in a daemon thread of their own that the
caller waits on (so ``open_timeout`` and ``call_timeout`` hold, and one call at a time runs on
the connection): a one-shot script imports neither asyncio nor anyio. So do the ``ensure_*``
calls, unless ``ensure_vm`` has to wait for a power state. The first call that is driven by
libvirt's events (``power(wait=True)``, ``wait_for_state``, such an ``ensure_vm``,
``console_target``) starts a :class:`~virtumancer.pool.ConnectionPool` on an event loop in a
thread of its own (an anyio blocking portal) and hands it the open connection, so state kept
per connection (libvirt's test driver) carries over; from then on every call goes through the
pool. That works in a plain script and in a Jupyter cell whose own loop is already running.
It is not a second copy of the logic: each method is one call of the connection's or the
host pool's. Do not call it from inside the portal's own loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Iterable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Self,
    TypeVar,
    cast,
    overload,
)

from virtumancer._libvirt import LibvirtConnection, ensure_event_loop, quiet_libvirt_errors
from virtumancer.exceptions import (
    ConflictError,
    ConnectionLostError,
    HostUnavailableError,
    OperationTimeoutError,
    VirtumancerError,
)
from virtumancer.models._display import ModelList
from virtumancer.models.domain import Domain, DomainState
from virtumancer.uri import UriPolicy, redact_uri

# The event and lifecycle models are imported by the calls that use them: a one-shot listing
# (a CLI call, an Ansible fact) does not pay for their classes (issue 11, cold start).
if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from virtumancer.models.console import ConsoleKind, ConsoleTarget
    from virtumancer.models.events import ConnectionState, PowerAction
    from virtumancer.models.lifecycle import (
        DesiredState,
        DeviceScope,
        EnsureNetworkResult,
        EnsureResult,
        EnsureSnapshotResult,
        EnsureVolumeResult,
    )
    from virtumancer.models.network import NatNetworkSpec
    from virtumancer.models.spec import VmSpec
    from virtumancer.pool import ConnectionPool, HostPool
    from virtumancer.topology import TopologyLayout

__all__ = ["SyncHost", "connect"]

T = TypeVar("T")
M = TypeVar("M")
P = ParamSpec("P")

#: The pool's defaults (see ConnectionPool), repeated so the direct path need not import it.
DEFAULT_WAIT_S = 60.0
_HOST_ID = "default"


class _TimedOutError(Exception):
    pass


def _in_daemon_thread(fn: Callable[[], T], timeout: float | None, *, name: str) -> T:
    """Run ``fn`` in a new daemon thread and wait up to ``timeout``; raise ``_TimedOutError`` then.

    A libvirt call cannot be cancelled: one that never returns is left behind in a thread
    that never keeps the process from exiting.
    """
    outcome: list[tuple[bool, Any]] = []

    def work() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise _TimedOutError
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result


class _DirectHost:
    """A host pool's operations, for :mod:`virtumancer.lifecycle`, as plain blocking calls.

    Each operation is a coroutine that never suspends: it blocks on :meth:`SyncHost._call`,
    so :func:`_drive` runs an ``ensure_*`` step without an event loop (the step's logic is
    the pool's own, not a copy). Waiting for a power state needs libvirt's events, hence the
    pool: such a step is not run here (see :attr:`virtumancer.lifecycle.VmPlan.waits`).
    """

    def __init__(self, sync: SyncHost) -> None:
        self._sync = sync

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        if name.startswith("_") or not callable(getattr(LibvirtConnection, name, None)):
            raise AttributeError(name)
        sync = self._sync

        async def operation(*args: Any, **kwargs: Any) -> Any:
            return sync._call(lambda target: getattr(target, name)(*args, **kwargs))

        return operation

    async def power(
        self, name_or_uuid: str, action: PowerAction, *, wait: bool = False, **_: Any
    ) -> None:
        if wait:
            raise RuntimeError("a power wait needs the pool, not the direct path")
        self._sync.power(name_or_uuid, action)


def _drive(step: Coroutine[Any, Any, T]) -> T:
    """Run ``step``, a coroutine that awaits only :class:`_DirectHost` operations, to its end."""
    try:
        step.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    step.close()
    raise RuntimeError("an ensure step suspended on the direct path")


class _Blocking(Generic[P, T]):
    """``SyncHost.<name>(...)`` blocks on ``LibvirtConnection.<name>(...)`` (or the pool's)."""

    def __init__(
        self,
        method: Callable[Concatenate[LibvirtConnection, P], T],
        result: Callable[[T], T] | None = None,
    ) -> None:
        self.name = method.__name__
        self.result = result
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, host: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, host: SyncHost, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, host: SyncHost | None, owner: type[Any]) -> Self | Callable[P, T]:
        if host is None:
            return self
        name = self.name
        wrap = self.result

        def operation(*args: P.args, **kwargs: P.kwargs) -> T:
            result: T = host._call(lambda target: getattr(target, name)(*args, **kwargs))
            return result if wrap is None else wrap(result)

        operation.__name__ = operation.__qualname__ = name
        operation.__doc__ = self.__doc__
        return operation


def _blocking(method: Callable[Concatenate[LibvirtConnection, P], T]) -> _Blocking[P, T]:
    """Declare a connection operation as a blocking method of :class:`SyncHost`."""
    return _Blocking(method)


def _listing(
    method: Callable[Concatenate[LibvirtConnection, P], list[M]],
) -> _Blocking[P, list[M]]:
    """Declare a listing operation whose list shows as a table in a notebook."""
    return _Blocking(method, ModelList)


class SyncHost(AbstractContextManager["SyncHost"]):
    """A blocking connection to one host; make it with :func:`connect`.

    Methods raise the same exceptions as :class:`~virtumancer.pool.HostPool`'s.
    """

    def __init__(self, uri: str, **pool_options: Any) -> None:
        self.uri = uri
        self._pool_options = pool_options
        self._open_timeout: float = pool_options.get("open_timeout", 8.0)
        self._call_timeout: float | None = pool_options.get("call_timeout", 120.0)
        self._events: bool = pool_options.get("events", True)
        self._opened = False
        # The direct path: one connection, one call at a time (docs/adr/0012).
        self._conn: LibvirtConnection | None = None
        self._lost: str | None = None
        self._calls = threading.Lock()
        # The pool path, once an event-driven operation was asked for.
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._host: HostPool | None = None
        self._pool: ConnectionPool | None = None
        self._adopted_generation = 0

    def __repr__(self) -> str:
        state = self.state.value if self._opened else "CLOSED"
        return f"<SyncHost {redact_uri(self.uri)} {state}>"

    def open(self) -> Self:
        """Connect; ``with`` does this for you."""
        if self._opened:
            raise ConflictError("already open")
        if self._events:
            ensure_event_loop()  # before the first connection: keepalive, close callback, events
        else:
            quiet_libvirt_errors()
        self._conn = self._open_connection()
        self._opened = True
        return self

    def _open_connection(self) -> LibvirtConnection:
        abandoned = threading.Event()

        def opener() -> LibvirtConnection:
            return LibvirtConnection.open(
                self.uri,
                host_id=_HOST_ID,
                # No event loop, no keepalive (libvirt sends its pings from the loop).
                keepalive_interval=(
                    self._pool_options.get("keepalive_interval", 5) if self._events else 0
                ),
                keepalive_count=self._pool_options.get("keepalive_count", 3),
                on_event=None,  # registered when a pool takes the connection over
                on_close=self._on_close,
                abandoned=abandoned,
            )

        try:
            conn = _in_daemon_thread(opener, self._open_timeout, name="virtumancer-open")
        except _TimedOutError:
            abandoned.set()  # closed again if it ever succeeds
            raise OperationTimeoutError(
                f"no answer from the host within {self._open_timeout:g} s", host_id=_HOST_ID
            ) from None
        except VirtumancerError as exc:
            if isinstance(exc, HostUnavailableError):
                raise
            raise HostUnavailableError(exc.message, host_id=_HOST_ID) from exc
        self._lost = None
        return conn

    def _on_close(self, reason: str) -> None:
        host = self._host
        if host is not None:
            host._closed_from_libvirt(self._adopted_generation, reason)
        else:
            self._lost = reason

    def close(self) -> None:
        """Disconnect (and stop the pool's thread if one was started)."""
        conn, self._conn = self._conn, None
        stack, self._stack = self._stack, None
        self._host = self._pool = self._portal = None
        self._opened = False
        if stack is not None:
            stack.close()  # the pool closes the connection it took over
        elif conn is not None:
            conn.retire()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn`` on the connection (or, once it exists, on the host pool)."""
        if not self._opened:
            raise ConflictError("the connection is closed (use `with virtumancer.connect(...)`)")
        if self._host is not None:
            return self._on_pool(fn)
        with self._calls:
            return self._direct(fn)

    def _direct(self, fn: Callable[[LibvirtConnection], Any]) -> Any:
        """Run ``fn`` on the connection, reconnecting first if it was lost (holds ``_calls``)."""
        if self._conn is None or self._lost is not None:
            # Lost (or retired after a timeout): reconnect, as the pool would.
            if self._conn is not None:
                self._conn.retire()
                self._conn = None
            self._conn = self._open_connection()
        conn = self._conn
        try:
            return _in_daemon_thread(lambda: fn(conn), self._call_timeout, name="virtumancer-call")
        except _TimedOutError:
            # Still inside libvirt: never reused, closed once the call returns.
            self._conn = None
            conn.retire()
            raise OperationTimeoutError(
                f"no answer from the host within {self._call_timeout:g} s", host_id=_HOST_ID
            ) from None
        except ConnectionLostError as exc:
            self._lost = exc.message
            raise

    def _on_pool(self, fn: Callable[[Any], Any]) -> Any:
        host = self._pool_host()

        async def run() -> Any:
            return await fn(host)

        assert self._portal is not None
        return self._portal.call(run)

    def _pool_host(self) -> HostPool:
        """The host pool, started on first use with the connection handed over to it."""
        if self._host is not None:
            return self._host
        if not self._opened:
            raise ConflictError("the connection is closed (use `with virtumancer.connect(...)`)")
        # Imported here: only the event-driven operations need the async stack.
        from anyio.from_thread import start_blocking_portal

        from virtumancer.pool import ConnectionPool

        with self._calls, ExitStack() as stack:
            portal = stack.enter_context(start_blocking_portal(backend="asyncio"))
            pool = stack.enter_context(
                portal.wrap_async_context_manager(ConnectionPool(**self._pool_options))
            )
            if self._conn is None or self._lost is not None:
                host = portal.call(pool.add_host, _HOST_ID, self.uri)
            else:

                def take_over(conn: LibvirtConnection) -> LibvirtConnection:
                    if pool.events:
                        conn.call(lambda _: conn.register_events(pool._event_sink))
                    return conn

                adopted: LibvirtConnection = self._direct(take_over)
                host = portal.call(pool._adopt_host, _HOST_ID, self.uri, adopted)
                self._adopted_generation = host._generation
            self._pool = pool
            self._host = host
            self._portal = portal
            self._conn = None
            self._stack = stack.pop_all()
        return host

    @property
    def state(self) -> ConnectionState:
        """The connection state (``CLOSED`` hosts report ``DISCONNECTED``)."""
        from virtumancer.models.events import ConnectionState

        if self._host is not None:
            return self._host.state
        if not self._opened:
            return ConnectionState.DISCONNECTED
        return ConnectionState.CONNECTED if self._lost is None else ConnectionState.ERROR

    # One line per operation, declared on LibvirtConnection (HostPool has the same names).
    info = _blocking(LibvirtConnection.host_info)
    domains = _listing(LibvirtConnection.list_domains)
    domain = _blocking(LibvirtConnection.get_domain)
    domain_xml = _blocking(LibvirtConnection.domain_xml)
    set_metadata = _blocking(LibvirtConnection.set_metadata)
    storage_pools = _listing(LibvirtConnection.list_storage_pools)
    storage_volumes = _listing(LibvirtConnection.list_storage_volumes)
    networks = _listing(LibvirtConnection.list_networks)
    gpus = _blocking(LibvirtConnection.list_gpus)
    stats = _blocking(LibvirtConnection.bulk_stats)
    create_vm = _blocking(LibvirtConnection.create_vm)
    define_vm_xml = _blocking(LibvirtConnection.define_vm_xml)
    delete_vm = _blocking(LibvirtConnection.delete_vm)
    delete_plan = _blocking(LibvirtConnection.delete_plan)
    update_vm = _blocking(LibvirtConnection.update_vm)
    attach_disk = _blocking(LibvirtConnection.attach_disk)
    attach_interface = _blocking(LibvirtConnection.attach_interface)
    create_snapshot = _blocking(LibvirtConnection.create_snapshot)
    snapshots = _blocking(LibvirtConnection.list_snapshots)
    revert_snapshot = _blocking(LibvirtConnection.revert_snapshot)
    delete_snapshot = _blocking(LibvirtConnection.delete_snapshot)
    clone_vm = _blocking(LibvirtConnection.clone_vm)
    create_storage_pool = _blocking(LibvirtConnection.create_storage_pool)
    delete_storage_pool = _blocking(LibvirtConnection.delete_storage_pool)
    create_volume = _blocking(LibvirtConnection.create_volume)
    copy_volume = _blocking(LibvirtConnection.copy_volume)
    volume = _blocking(LibvirtConnection.get_volume)
    resize_volume = _blocking(LibvirtConnection.resize_volume)
    delete_volume = _blocking(LibvirtConnection.delete_volume)
    define_network = _blocking(LibvirtConnection.define_network)
    network = _blocking(LibvirtConnection.get_network)
    network_xml = _blocking(LibvirtConnection.network_xml)
    start_network = _blocking(LibvirtConnection.start_network)
    stop_network = _blocking(LibvirtConnection.stop_network)
    delete_network = _blocking(LibvirtConnection.delete_network)

    def power(
        self,
        name_or_uuid: str,
        action: PowerAction | str,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_S,
    ) -> None:
        """Apply a power action (``ConflictError`` on an invalid transition).

        With ``wait``, return once the domain reached the action's state (see
        :meth:`HostPool.power <virtumancer.pool.HostPool.power>`).
        """
        from virtumancer.models.events import PowerAction

        power_action = PowerAction.parse(action, _HOST_ID)
        if wait:
            self._on_pool(
                lambda host: host.power(name_or_uuid, power_action, wait=True, timeout=timeout)
            )
        else:
            self._call(lambda target: target.power(name_or_uuid, power_action))

    def detach_disk(
        self,
        name_or_uuid: str,
        target: str,
        *,
        scope: DeviceScope | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_S,
    ) -> Domain:
        """Detach a disk; ``wait``: until the guest let go (see ``HostPool.detach_disk``)."""
        return self._detach("detach_disk", name_or_uuid, target, scope, wait, timeout)

    def detach_interface(
        self,
        name_or_uuid: str,
        mac: str,
        *,
        scope: DeviceScope | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_S,
    ) -> Domain:
        """Detach a NIC; ``wait``: until the guest let go (see ``HostPool.detach_disk``)."""
        return self._detach("detach_interface", name_or_uuid, mac, scope, wait, timeout)

    def _detach(
        self,
        operation: str,
        name_or_uuid: str,
        device: str,
        scope: DeviceScope | None,
        wait: bool,
        timeout: float,
    ) -> Domain:
        # The connection and the host pool name the operation alike.
        result: Domain
        if wait:
            # Waiting needs libvirt's DEVICE_REMOVED event: the event-driven pool.
            result = self._on_pool(
                lambda host: getattr(host, operation)(
                    name_or_uuid, device, scope=scope, wait=True, timeout=timeout
                )
            )
        else:
            result = self._call(
                lambda conn: getattr(conn, operation)(name_or_uuid, device, scope=scope)
            )
        return result

    def wait_for_state(
        self, name_or_uuid: str, state: DomainState | str, timeout: float = DEFAULT_WAIT_S
    ) -> Domain:
        """Wait (driven by libvirt events) until a domain is in ``state``; return it."""
        result: Domain = self._on_pool(
            lambda host: host.wait_for_state(name_or_uuid, state, timeout)
        )
        return result

    def _direct_host(self) -> HostPool:
        # What lifecycle calls on a HostPool, _DirectHost has (by the same names).
        return cast("HostPool", _DirectHost(self))

    def ensure_vm(
        self,
        spec: VmSpec,
        state: DesiredState | str = "running",
        *,
        check: bool = False,
        timeout: float = DEFAULT_WAIT_S,
    ) -> EnsureResult:
        """Bring a VM to ``spec`` and ``state`` (see :meth:`HostPool.ensure_vm`)."""
        from virtumancer.lifecycle import apply_vm, plan_vm

        # Reading, comparing and a change with nothing to wait for need no pool: a task that
        # changes nothing (the common Ansible run) starts no event loop.
        direct = self._direct_host()
        plan = _drive(plan_vm(direct, spec, state, check=check))
        if plan.waits:
            result: EnsureResult = self._on_pool(lambda host: apply_vm(host, plan, timeout=timeout))
            return result
        return _drive(apply_vm(direct, plan, timeout=timeout))

    def ensure_snapshot(
        self,
        vm: str,
        name: str,
        state: str = "present",
        *,
        memory: bool | None = None,
        description: str = "",
        check: bool = False,
    ) -> EnsureSnapshotResult:
        """Bring a VM's snapshot to ``state`` (see :meth:`HostPool.ensure_snapshot`)."""
        from virtumancer.lifecycle import ensure_snapshot

        # Nothing here waits for an event: the direct path does it all (so for volumes, networks).
        return _drive(
            ensure_snapshot(
                self._direct_host(),
                vm,
                name,
                state,
                memory=memory,
                description=description,
                check=check,
            )
        )

    def ensure_volume(
        self,
        pool_name: str,
        name: str,
        state: str = "present",
        *,
        capacity_bytes: int | None = None,
        format: str | None = None,
        check: bool = False,
    ) -> EnsureVolumeResult:
        """Bring a volume to ``state`` (see :meth:`HostPool.ensure_volume`)."""
        from virtumancer.lifecycle import ensure_volume

        return _drive(
            ensure_volume(
                self._direct_host(),
                pool_name,
                name,
                state,
                capacity_bytes=capacity_bytes,
                format=format,
                check=check,
            )
        )

    def ensure_network(
        self,
        name: str,
        state: str = "started",
        *,
        spec: NatNetworkSpec | None = None,
        check: bool = False,
    ) -> EnsureNetworkResult:
        """Bring a network to ``spec`` and ``state`` (see :meth:`HostPool.ensure_network`)."""
        from virtumancer.lifecycle import ensure_network

        return _drive(ensure_network(self._direct_host(), name, state, spec=spec, check=check))

    def start(self, name_or_uuid: str) -> None:
        """Start a shut-off domain."""
        self.power(name_or_uuid, "start")

    def shutdown(self, name_or_uuid: str) -> None:
        """Ask a domain to shut down (ACPI); the guest may ignore it."""
        self.power(name_or_uuid, "shutdown")

    def reboot(self, name_or_uuid: str) -> None:
        """Ask a domain to reboot."""
        self.power(name_or_uuid, "reboot")

    def destroy(self, name_or_uuid: str) -> None:
        """Force a domain off."""
        self.power(name_or_uuid, "destroy")

    def reset(self, name_or_uuid: str) -> None:
        """Force a domain to reset."""
        self.power(name_or_uuid, "reset")

    def suspend(self, name_or_uuid: str) -> None:
        """Pause a running domain."""
        self.power(name_or_uuid, "suspend")

    def resume(self, name_or_uuid: str) -> None:
        """Resume a paused domain."""
        self.power(name_or_uuid, "resume")

    def topology(self) -> TopologyLayout:
        """Return this host and its domains placed for a picture (one ``list_domains`` call).

        A notebook shows it as SVG; :func:`~virtumancer.topology.render_svg` gives the text.
        The host node is named by the URI (credentials removed).
        """
        # Not imported at the top: a one-shot script or Ansible task does not draw.
        from virtumancer.topology import Topology, TopologyHost, TopologyVm, layout_topology

        host_id = redact_uri(self.uri)
        vms = tuple(
            TopologyVm(host_id=host_id, name=domain.name, state=int(domain.state or 0))
            for domain in sorted(self.domains(), key=lambda domain: domain.name)
        )
        host = TopologyHost(id=host_id, state=self.state.value, vms=vms)
        return layout_topology(Topology(hosts=(host,)))

    def console_target(
        self, name_or_uuid: str, kind: ConsoleKind | str | None = None
    ) -> ConsoleTarget:
        """Return where a running domain's graphics server (VNC first, or ``kind``) listens.

        Raises what :func:`~virtumancer.services.console.resolve_console_target` raises:
        ``NotFoundError`` (no such VM, no graphics), ``ConflictError`` (not running, or not
        reachable from here).
        """
        # The console service pulls in asyncssh: only callers that want a console pay for it.
        from virtumancer.models.console import ConsoleKind
        from virtumancer.services.console import resolve_console_target

        wanted = ConsoleKind(kind) if kind is not None else None
        result: ConsoleTarget = self._on_pool(
            lambda host: resolve_console_target(host, name_or_uuid, wanted)
        )
        return result


def connect(
    uri: str,
    *,
    allow_test_uris: bool = True,
    extra_socket_dirs: Iterable[str] = (),
    uri_policy: UriPolicy | None = None,
    open_timeout: float = 8.0,
    call_timeout: float | None = 120.0,
    events: bool = True,
) -> SyncHost:
    """Return a blocking connection to ``uri``, to use as ``with connect(uri) as host:``.

    The URI is checked against the URI policy first
    (:class:`~virtumancer.exceptions.UriPolicyError`); entering the ``with`` block connects
    (:class:`~virtumancer.exceptions.HostUnavailableError` if it cannot). ``uri_policy``
    replaces the default :class:`~virtumancer.UriPolicy` (widened by ``extra_socket_dirs``).
    ``events=False`` suits a one-shot caller such as a CLI call: calls are cheaper, but
    :meth:`SyncHost.wait_for_state`, ``power(wait=True)`` and an ``ensure_vm`` that changes the
    power state cannot be used (see :class:`~virtumancer.pool.ConnectionPool`).
    """
    uri_policy = uri_policy or UriPolicy.default(
        allow_test=allow_test_uris, extra_socket_dirs=extra_socket_dirs
    )
    uri_policy.check(uri)
    return SyncHost(
        uri,
        uri_policy=uri_policy,
        open_timeout=open_timeout,
        call_timeout=call_timeout,
        events=events,
    )
