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

from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any, Self, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from virtumancer.exceptions import ConflictError
from virtumancer.models.console import ConsoleKind, ConsoleTarget
from virtumancer.models.domain import Domain
from virtumancer.models.events import ConnectionState, PowerAction
from virtumancer.models.host import HostInfo
from virtumancer.models.metadata import VirtumancerMetadata
from virtumancer.models.network import Network
from virtumancer.models.nodedev import GpuDevice
from virtumancer.models.stats import DomainStatsSample
from virtumancer.models.storage import StoragePool, StorageVolume
from virtumancer.pool import ConnectionPool, HostPool
from virtumancer.uri import UriPolicy, redact_uri

__all__ = ["SyncHost", "connect"]

T = TypeVar("T")


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

    def info(self) -> HostInfo:
        """Return node info, hostname, capabilities and versions."""
        result: HostInfo = self._call(lambda host: host.host_info())
        return result

    def domains(self) -> list[Domain]:
        """List every domain."""
        result: list[Domain] = self._call(lambda host: host.list_domains())
        return result

    def domain(self, name_or_uuid: str) -> Domain:
        """Return one domain by name or UUID (``NotFoundError`` if there is none)."""
        result: Domain = self._call(lambda host: host.get_domain(name_or_uuid))
        return result

    def domain_xml(self, name_or_uuid: str, *, inactive: bool = False) -> bytes:
        """Return a domain's XML."""
        result: bytes = self._call(lambda host: host.domain_xml(name_or_uuid, inactive=inactive))
        return result

    def power(self, name_or_uuid: str, action: PowerAction | str) -> None:
        """Apply a power action (``ConflictError`` on an invalid transition)."""
        self._call(lambda host: host.power(name_or_uuid, action))

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

    def set_metadata(self, name_or_uuid: str, metadata: VirtumancerMetadata | None) -> None:
        """Write (or remove) Virtumancer's ``<metadata>`` element."""
        self._call(lambda host: host.set_metadata(name_or_uuid, metadata))

    def storage_pools(self) -> list[StoragePool]:
        """List storage pools."""
        result: list[StoragePool] = self._call(lambda host: host.list_storage_pools())
        return result

    def storage_volumes(self, pool_name: str | None = None) -> list[StorageVolume]:
        """List volumes of every active pool, or of ``pool_name``."""
        result: list[StorageVolume] = self._call(lambda host: host.list_storage_volumes(pool_name))
        return result

    def networks(self) -> list[Network]:
        """List virtual networks."""
        result: list[Network] = self._call(lambda host: host.list_networks())
        return result

    def gpus(self) -> list[GpuDevice]:
        """List the host's GPUs."""
        result: list[GpuDevice] = self._call(lambda host: host.list_gpus())
        return result

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

    def stats(self, domain_uuids: Collection[str] | None = None) -> list[DomainStatsSample]:
        """Return one stats sample per domain, in one libvirt call."""
        result: list[DomainStatsSample] = self._call(lambda host: host.bulk_stats(domain_uuids))
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
