"""A blocking facade over the async pool, for scripts, Ansible modules and notebooks.

    with virtumancer.connect("qemu:///system") as host:
        for domain in host.domains():
            print(domain.name, domain.state)
        host.start("web1")

It runs a :class:`~virtumancer.pool.ConnectionPool` on an event loop in a thread of its own
(an anyio blocking portal), so it works in a plain script and in a Jupyter cell whose own
loop is already running. It is not a second copy of the logic: every method is one call into
:class:`~virtumancer.pool.HostPool`. Do not call it from inside the portal's own loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Self, TypeVar, overload

from anyio.from_thread import BlockingPortal, start_blocking_portal

from virtumancer.exceptions import ConflictError
from virtumancer.models.console import ConsoleKind, ConsoleTarget
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.events import ConnectionState, PowerAction
from virtumancer.models.lifecycle import DesiredState, EnsureResult
from virtumancer.notebook import ModelList
from virtumancer.pool import DEFAULT_WAIT_S, ConnectionPool, HostPool, _Operation
from virtumancer.uri import UriPolicy, redact_uri

if TYPE_CHECKING:
    from virtumancer.models.spec import VmSpec
    from virtumancer.topology import TopologyLayout

__all__ = ["SyncHost", "connect"]

T = TypeVar("T")
M = TypeVar("M")
P = ParamSpec("P")


class _Blocking(Generic[P, T]):
    """``SyncHost.<name>(...)`` blocks on the host pool's operation of the same declaration."""

    def __init__(self, operation: _Operation[P, T], result: Callable[[T], T] | None = None) -> None:
        self.operation = operation
        self.result = result
        self.__doc__ = operation.__doc__

    @overload
    def __get__(self, host: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, host: SyncHost, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, host: SyncHost | None, owner: type[Any]) -> Self | Callable[P, T]:
        if host is None:
            return self
        name = self.operation.name
        wrap = self.result

        def operation(*args: P.args, **kwargs: P.kwargs) -> T:
            result: T = host._call(lambda pool: getattr(pool, name)(*args, **kwargs))
            return result if wrap is None else wrap(result)

        operation.__name__ = operation.__qualname__ = name
        operation.__doc__ = self.__doc__
        return operation


def _blocking(operation: _Operation[P, T]) -> _Blocking[P, T]:
    """Declare a host pool operation as a blocking method of :class:`SyncHost`."""
    return _Blocking(operation)


def _listing(operation: _Operation[P, list[M]]) -> _Blocking[P, list[M]]:
    """Declare a listing operation whose list shows as a table in a notebook."""
    return _Blocking(operation, ModelList)


class SyncHost(AbstractContextManager["SyncHost"]):
    """A blocking connection to one host; make it with :func:`connect`.

    Methods raise the same exceptions as :class:`~virtumancer.pool.HostPool`'s.
    """

    def __init__(self, uri: str, **pool_options: Any) -> None:
        self.uri = uri
        self._pool_options = pool_options
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._host: HostPool | None = None

    def __repr__(self) -> str:
        state = self._host.state.value if self._host is not None else "CLOSED"
        return f"<SyncHost {redact_uri(self.uri)} {state}>"

    def open(self) -> Self:
        """Start the portal, open the pool and connect; ``with`` does this for you."""
        if self._stack is not None:
            raise ConflictError("already open")
        with ExitStack() as stack:
            portal = stack.enter_context(start_blocking_portal(backend="asyncio"))
            pool = stack.enter_context(
                portal.wrap_async_context_manager(ConnectionPool(**self._pool_options))
            )
            self._host = portal.call(pool.add_host, "default", self.uri)
            self._portal = portal
            self._stack = stack.pop_all()
        return self

    def close(self) -> None:
        """Disconnect and stop the portal's thread."""
        stack, self._stack = self._stack, None
        self._host = None
        self._portal = None
        if stack is not None:
            stack.close()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, fn: Callable[[HostPool], Any]) -> Any:
        if self._portal is None or self._host is None:
            raise ConflictError("the connection is closed (use `with virtumancer.connect(...)`)")
        host = self._host

        async def run() -> Any:
            return await fn(host)

        return self._portal.call(run)

    @property
    def state(self) -> ConnectionState:
        """The connection state (``CLOSED`` hosts report ``DISCONNECTED``)."""
        return self._host.state if self._host is not None else ConnectionState.DISCONNECTED

    # One line per operation, declared on LibvirtConnection (see HostPool).
    info = _blocking(HostPool.host_info)
    domains = _listing(HostPool.list_domains)
    domain = _blocking(HostPool.get_domain)
    domain_xml = _blocking(HostPool.domain_xml)
    set_metadata = _blocking(HostPool.set_metadata)
    storage_pools = _listing(HostPool.list_storage_pools)
    storage_volumes = _listing(HostPool.list_storage_volumes)
    networks = _listing(HostPool.list_networks)
    gpus = _blocking(HostPool.list_gpus)
    stats = _blocking(HostPool.bulk_stats)
    create_vm = _blocking(HostPool.create_vm)
    define_vm_xml = _blocking(HostPool.define_vm_xml)
    delete_vm = _blocking(HostPool.delete_vm)
    delete_plan = _blocking(HostPool.delete_plan)
    update_vm = _blocking(HostPool.update_vm)
    attach_disk = _blocking(HostPool.attach_disk)
    detach_disk = _blocking(HostPool.detach_disk)
    attach_interface = _blocking(HostPool.attach_interface)
    detach_interface = _blocking(HostPool.detach_interface)
    create_snapshot = _blocking(HostPool.create_snapshot)
    snapshots = _blocking(HostPool.list_snapshots)
    revert_snapshot = _blocking(HostPool.revert_snapshot)
    delete_snapshot = _blocking(HostPool.delete_snapshot)
    clone_vm = _blocking(HostPool.clone_vm)
    create_storage_pool = _blocking(HostPool.create_storage_pool)
    delete_storage_pool = _blocking(HostPool.delete_storage_pool)
    create_volume = _blocking(HostPool.create_volume)
    resize_volume = _blocking(HostPool.resize_volume)
    delete_volume = _blocking(HostPool.delete_volume)
    define_network = _blocking(HostPool.define_network)
    start_network = _blocking(HostPool.start_network)
    stop_network = _blocking(HostPool.stop_network)
    delete_network = _blocking(HostPool.delete_network)

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
        self._call(lambda host: host.power(name_or_uuid, action, wait=wait, timeout=timeout))

    def wait_for_state(
        self, name_or_uuid: str, state: DomainState | str, timeout: float = DEFAULT_WAIT_S
    ) -> Domain:
        """Wait (driven by libvirt events) until a domain is in ``state``; return it."""
        result: Domain = self._call(lambda host: host.wait_for_state(name_or_uuid, state, timeout))
        return result

    def ensure_vm(
        self,
        spec: VmSpec,
        state: DesiredState | str = DesiredState.RUNNING,
        *,
        check: bool = False,
        timeout: float = DEFAULT_WAIT_S,
    ) -> EnsureResult:
        """Bring a VM to ``spec`` and ``state`` (see :meth:`HostPool.ensure_vm`)."""
        result: EnsureResult = self._call(
            lambda host: host.ensure_vm(spec, state, check=check, timeout=timeout)
        )
        return result

    def start(self, name_or_uuid: str) -> None:
        """Start a shut-off domain."""
        self.power(name_or_uuid, PowerAction.START)

    def shutdown(self, name_or_uuid: str) -> None:
        """Ask a domain to shut down (ACPI); the guest may ignore it."""
        self.power(name_or_uuid, PowerAction.SHUTDOWN)

    def reboot(self, name_or_uuid: str) -> None:
        """Ask a domain to reboot."""
        self.power(name_or_uuid, PowerAction.REBOOT)

    def destroy(self, name_or_uuid: str) -> None:
        """Force a domain off."""
        self.power(name_or_uuid, PowerAction.DESTROY)

    def reset(self, name_or_uuid: str) -> None:
        """Force a domain to reset."""
        self.power(name_or_uuid, PowerAction.RESET)

    def suspend(self, name_or_uuid: str) -> None:
        """Pause a running domain."""
        self.power(name_or_uuid, PowerAction.SUSPEND)

    def resume(self, name_or_uuid: str) -> None:
        """Resume a paused domain."""
        self.power(name_or_uuid, PowerAction.RESUME)

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
        from virtumancer.services.console import resolve_console_target

        wanted = ConsoleKind(kind) if kind is not None else None
        result: ConsoleTarget = self._call(
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
) -> SyncHost:
    """Return a blocking connection to ``uri``, to use as ``with connect(uri) as host:``.

    The URI is checked against the URI policy first
    (:class:`~virtumancer.exceptions.UriPolicyError`); entering the ``with`` block connects
    (:class:`~virtumancer.exceptions.HostUnavailableError` if it cannot). ``uri_policy``
    replaces the default :class:`~virtumancer.UriPolicy` (widened by ``extra_socket_dirs``).
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
    )
