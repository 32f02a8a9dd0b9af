"""Graphics consoles: find a running VM's VNC/SPICE server and open a byte stream to it.

Two calls, both used by :class:`virtumancer.manager.Virtumancer`:

- :func:`resolve_console_target` reads the *live* domain (ports allocated by autoport are
  the real ones) and says where the graphics server listens and how to reach it
  (:class:`~virtumancer.models.console.ConsoleTarget`).
- :func:`open_console_stream` dials that target and yields an :class:`anyio.abc.ByteStream`:
  a plain TCP (or UNIX socket) connection for a local hypervisor, a TCP channel through an
  SSH tunnel for ``qemu+ssh``/``qemu+libssh`` hosts (same user, host, port, key file and
  host-key policy as the libvirt URI).

What may be dialled is decided here and only here: the listen address of the domain's own
``<graphics>`` element, or the host name of the host's URI when the graphics listen on every
address. Nothing a client sends names an address, so the relay is never an open proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, Final, Literal, Protocol

import anyio
import anyio.abc
import asyncssh

from virtumancer._logging import get_logger
from virtumancer.exceptions import ConflictError, HostUnavailableError, NotFoundError
from virtumancer.models.console import ConsoleKind, ConsoleRoute, ConsoleTarget
from virtumancer.models.domain import ACTIVE_DOMAIN_STATES, Domain
from virtumancer.models.events import (
    ConnectionState,
    DomainLifecycleEvent,
    HostStateChanged,
    LifecycleEventType,
    PoolEvent,
)
from virtumancer.models.notifications import Notification, VmsChanged
from virtumancer.uri import split_libvirt_uri

__all__ = [
    "ConsoleHost",
    "SshEndpoint",
    "open_console_stream",
    "resolve_console_target",
    "ssh_endpoint",
]

logger = get_logger(__name__)

#: How long dialling a graphics server (or the SSH host in front of it) may take.
CONNECT_TIMEOUT_S: Final = 10.0

_SSH_TRANSPORTS: Final = frozenset({"ssh", "libssh", "libssh2"})
_NETWORK_TRANSPORTS: Final = frozenset({"tcp", "tls"})
_WILDCARDS: Final = frozenset({"0.0.0.0", "::", "[::]"})  # noqa: S104 - we never bind
#: Lifecycle events after which a domain's graphics server is gone.
_GONE: Final = frozenset(
    {LifecycleEventType.STOPPED, LifecycleEventType.CRASHED, LifecycleEventType.UNDEFINED}
)


class ConsoleHost(Protocol):
    """What resolving a console needs from a host: :class:`virtumancer.pool.HostPool` fits."""

    @property
    def host_id(self) -> str: ...

    @property
    def uri(self) -> str: ...

    async def get_domain(self, name_or_uuid: str) -> Domain: ...


EventSource = Callable[[], AbstractAsyncContextManager[AsyncIterator[PoolEvent]]]
#: Opens a subscription to change notifications (every replica's, in a fleet).
ChangeSource = Callable[[], AbstractAsyncContextManager[AsyncIterator[Notification]]]
#: Says whether the console's VM still runs (``False`` ends the console).
StillRunning = Callable[[], Awaitable[bool]]


# --- resolving ---------------------------------------------------------------------------


def _route_for(uri: str, *, host_id: str, vm_name: str) -> tuple[ConsoleRoute, str | None]:
    parts = split_libvirt_uri(uri)
    driver, transport = parts.driver, parts.transport
    if driver == "test":
        # The test driver describes graphics but runs no server behind them.
        raise ConflictError(
            "the test driver runs no graphics servers",
            host_id=host_id,
            vm_name=vm_name,
            code="console_unavailable",
        )
    if transport in _SSH_TRANSPORTS:
        return ConsoleRoute.SSH, parts.host
    if not parts.host and transport == "unix":
        return ConsoleRoute.LOCAL, None
    if transport in _NETWORK_TRANSPORTS and parts.host:
        return ConsoleRoute.NETWORK, parts.host
    raise ConflictError(
        f"consoles are not supported over the {transport or driver!r} transport",
        host_id=host_id,
        vm_name=vm_name,
        code="console_unavailable",
    )


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _dial_address(
    listen: str | None, route: ConsoleRoute, uri_host: str | None, *, host_id: str, vm_name: str
) -> str:
    """Return the address to dial for a graphics server listening on ``listen``."""
    if listen is None or listen in _WILDCARDS:
        if route is ConsoleRoute.NETWORK:
            assert uri_host is not None
            return uri_host
        # Every address of the hypervisor, so also its loopback one (seen from the
        # hypervisor, which for SSH is the far end of the tunnel).
        return "::1" if listen in {"::", "[::]"} else "127.0.0.1"
    if route is ConsoleRoute.NETWORK and _is_loopback(listen):
        raise ConflictError(
            "the graphics listen on the remote host's loopback address; "
            "reach the host over qemu+ssh to use its console",
            host_id=host_id,
            vm_name=vm_name,
            code="console_unreachable",
        )
    return listen.strip("[]")


async def resolve_console_target(
    host: ConsoleHost,
    vm_name: str,
    kind: Literal["vnc", "spice"] | ConsoleKind | None = None,
) -> ConsoleTarget:
    """Return where ``vm_name``'s graphics server of ``kind`` listens and how to reach it.

    ``kind=None`` picks the first VNC graphics, else the first graphics of any supported
    kind. Reads the live XML, so ports allocated by ``autoport`` are the real ones.

    Raise :class:`NotFoundError` for an unknown VM or one without graphics of that kind
    (``code="no_console"``), :class:`ConflictError` when the VM is not running
    (``code="vm_not_running"``) or its console cannot be reached from here.
    """
    wanted = ConsoleKind(kind) if kind is not None else None
    domain = await host.get_domain(vm_name)  # an unknown VM is a 404 whatever the host
    name = domain.name
    route, uri_host = _route_for(host.uri, host_id=host.host_id, vm_name=name)
    if domain.state not in ACTIVE_DOMAIN_STATES:  # paused guests keep their server
        raise ConflictError(
            "the VM is not running", host_id=host.host_id, vm_name=name, code="vm_not_running"
        )
    supported = {k.value for k in ConsoleKind}
    candidates = [
        graphics
        for graphics in domain.devices.graphics
        if graphics.type in supported and (wanted is None or graphics.type == wanted.value)
    ]
    if wanted is None:
        candidates.sort(key=lambda graphics: graphics.type != ConsoleKind.VNC.value)
    if not candidates:
        what = f"{wanted.value.upper()} graphics" if wanted else "VNC or SPICE graphics"
        raise NotFoundError(
            f"the VM has no {what}", host_id=host.host_id, vm_name=name, code="no_console"
        )
    graphics = candidates[0]
    socket_path = graphics.socket_path
    address: str | None = None
    if socket_path is None:
        if graphics.port is None:
            # A running VM's live XML carries the allocated port; without one (and without
            # autoport) its graphics listen nowhere (``<listen type='none'/>``).
            if graphics.autoport:
                raise ConflictError(
                    "the VM's graphics server has no port yet",
                    host_id=host.host_id,
                    vm_name=name,
                    code="console_unavailable",
                )
            raise NotFoundError(
                "the VM's graphics do not listen anywhere",
                host_id=host.host_id,
                vm_name=name,
                code="no_console",
            )
        address = _dial_address(
            graphics.listen, route, uri_host, host_id=host.host_id, vm_name=name
        )
    elif route is ConsoleRoute.NETWORK:
        raise ConflictError(
            "the graphics listen on a UNIX socket of a remote host; reach it over qemu+ssh",
            host_id=host.host_id,
            vm_name=name,
            code="console_unreachable",
        )
    return ConsoleTarget(
        host_id=host.host_id,
        vm_name=name,
        domain_uuid=domain.uuid,
        kind=ConsoleKind(graphics.type),
        route=route,
        address=address,
        port=graphics.port if socket_path is None else None,
        socket_path=socket_path,
        listen=graphics.listen,
        autoport=graphics.autoport,
        tls_port=graphics.tls_port,
        has_password=graphics.has_password,
    )


# --- SSH ---------------------------------------------------------------------------------


class SshEndpoint:
    """The SSH side of a ``qemu+ssh`` URI: who to log in as, where, and how to trust it.

    ``known_hosts=None`` means no host-key check (the URI said ``no_verify=1``);
    ``()`` means asyncssh's default (``~/.ssh/known_hosts``), as libvirt's ssh does.
    """

    __slots__ = ("client_keys", "host", "known_hosts", "port", "username")

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None,
        client_keys: list[str] | None,
        known_hosts: str | tuple[()] | None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.client_keys = client_keys
        self.known_hosts = known_hosts

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"<SshEndpoint {user}{self.host}:{self.port}>"


def ssh_endpoint(uri: str) -> SshEndpoint:
    """Return the SSH endpoint of a ``qemu+ssh``/``qemu+libssh`` URI, with libvirt's meaning.

    Query parameters honoured: ``keyfile``, ``known_hosts``, ``no_verify=1`` (ssh) and
    ``known_hosts_verify=ignore`` (libssh) -- the same policy libvirt applies to that URI,
    read with libvirt's own query rules (:func:`~virtumancer.uri.split_libvirt_uri`).
    """
    parts = split_libvirt_uri(uri)
    if not parts.host:
        raise ConflictError("a qemu+ssh URI without a host name", code="console_unavailable")
    query = dict(parts.params)
    keyfile = query.get("keyfile")
    no_verify = query.get("no_verify") == "1" or query.get("known_hosts_verify") == "ignore"
    known_hosts: str | tuple[()] | None
    if no_verify:
        known_hosts = None
    elif query.get("known_hosts"):
        known_hosts = query["known_hosts"]
    else:
        known_hosts = ()
    return SshEndpoint(
        host=parts.host,
        port=parts.port or 22,
        username=parts.user,
        client_keys=[keyfile] if keyfile else None,
        known_hosts=known_hosts,
    )


async def _ssh_connect(endpoint: SshEndpoint) -> asyncssh.SSHClientConnection:
    options: dict[str, Any] = {
        "port": endpoint.port,
        "connect_timeout": CONNECT_TIMEOUT_S,
        # Forwarding only: never ask for a TTY or run a command.
        "agent_forwarding": False,
    }
    if endpoint.username is not None:
        options["username"] = endpoint.username
    if endpoint.client_keys is not None:
        options["client_keys"] = endpoint.client_keys
    if endpoint.known_hosts != ():
        options["known_hosts"] = endpoint.known_hosts
    return await asyncssh.connect(endpoint.host, **options)


class _SshChannelStream(anyio.abc.ByteStream):
    """An SSH direct-tcpip (or streamlocal) channel as an anyio byte stream.

    Owns the SSH connection: closing the stream closes the tunnel.
    """

    def __init__(
        self,
        connection: asyncssh.SSHClientConnection,
        reader: asyncssh.SSHReader[bytes],
        writer: asyncssh.SSHWriter[bytes],
    ) -> None:
        self._connection = connection
        self._reader = reader
        self._writer = writer
        self._closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._closed:
            raise anyio.ClosedResourceError
        try:
            data = await self._reader.read(max_bytes)
        except (asyncssh.Error, OSError) as exc:
            raise anyio.BrokenResourceError from exc
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        try:
            self._writer.write(item)
            # drain() is the backpressure: it waits while the SSH window is full.
            await self._writer.drain()
        except (asyncssh.Error, OSError, BrokenPipeError) as exc:
            raise anyio.BrokenResourceError from exc

    async def send_eof(self) -> None:
        if self._writer.can_write_eof():
            self._writer.write_eof()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self._connection.close()
        with anyio.move_on_after(2, shield=True):
            await self._connection.wait_closed()


# --- opening -----------------------------------------------------------------------------


async def _dial(host: ConsoleHost, target: ConsoleTarget) -> anyio.abc.ByteStream:
    where = target.socket_path or f"{target.address}:{target.port}"
    try:
        with anyio.fail_after(CONNECT_TIMEOUT_S):
            if target.route is ConsoleRoute.SSH:
                return await _dial_ssh(host, target)
            if target.socket_path is not None:
                return await anyio.connect_unix(target.socket_path)
            assert target.address is not None
            assert target.port is not None
            return await anyio.connect_tcp(target.address, target.port)
    except TimeoutError as exc:
        raise HostUnavailableError(
            f"timed out reaching the console at {where}",
            host_id=target.host_id,
            vm_name=target.vm_name,
            code="console_unreachable",
        ) from exc
    except (OSError, asyncssh.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise HostUnavailableError(
            f"cannot reach the console at {where}: {reason}",
            host_id=target.host_id,
            vm_name=target.vm_name,
            code="console_unreachable",
        ) from exc


async def _dial_ssh(host: ConsoleHost, target: ConsoleTarget) -> anyio.abc.ByteStream:
    endpoint = ssh_endpoint(host.uri)
    connection = await _ssh_connect(endpoint)
    try:
        if target.socket_path is not None:
            reader, writer = await connection.open_unix_connection(target.socket_path)
        else:
            assert target.address is not None
            assert target.port is not None
            reader, writer = await connection.open_connection(target.address, target.port)
    except BaseException:
        connection.close()
        raise
    logger.debug("console tunnel to %s via %r", target.vm_name, endpoint)
    return _SshChannelStream(connection, reader, writer)


def _ends_console(event: PoolEvent, target: ConsoleTarget) -> bool:
    if event.host_id != target.host_id:
        return False
    if isinstance(event, HostStateChanged):
        return event.state in {ConnectionState.DISCONNECTED, ConnectionState.ERROR}
    if isinstance(event, DomainLifecycleEvent):
        return event.domain_uuid == target.domain_uuid and event.event in _GONE
    return False


@asynccontextmanager
async def open_console_stream(
    host: ConsoleHost,
    target: ConsoleTarget,
    *,
    events: EventSource | None = None,
    changes: ChangeSource | None = None,
    still_running: StillRunning | None = None,
) -> AsyncIterator[anyio.abc.ByteStream]:
    """Open a byte stream to ``target``'s graphics server; close it when the block ends.

    ``events`` (the pool's ``subscribe``) lets the stream end by itself when the VM stops or
    the host is disconnected: the stream is closed, so a relay reading it sees the end.
    ``changes`` and ``still_running`` do the same where no libvirt event arrives (a fleet
    replica that does not own the host): after each ``VmsChanged`` of the host, and once at
    the start, the stream is closed if ``still_running()`` says the VM stopped.
    Raise :class:`HostUnavailableError` (``code="console_unreachable"``) if it cannot be
    reached.
    """
    stream = await _dial(host, target)
    try:
        watchers: list[Callable[..., Coroutine[Any, Any, None]]] = []
        if events is not None:
            watchers.append(partial(_close_when_gone, events, target, stream))
        if changes is not None and still_running is not None:
            watchers.append(partial(_close_when_stopped, changes, still_running, target, stream))
        if not watchers:
            yield stream
            return
        async with anyio.create_task_group() as group:
            for watcher in watchers:
                # Subscribed before the stream is handed out: no stop can slip in between.
                await group.start(watcher)
            try:
                yield stream
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


async def _close_when_gone(
    events: EventSource,
    target: ConsoleTarget,
    stream: anyio.abc.ByteStream,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    async with events() as stream_of_events:
        task_status.started()
        async for event in stream_of_events:
            if _ends_console(event, target):
                await _close(stream, target, type(event).__name__)
                return


async def _close_when_stopped(
    changes: ChangeSource,
    still_running: StillRunning,
    target: ConsoleTarget,
    stream: anyio.abc.ByteStream,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    async with changes() as notifications:
        task_status.started()
        # Once before any notification: the VM may have stopped while the console was being
        # resolved and dialled, a change whose notification came before we subscribed.
        if not await still_running():
            await _close(stream, target, "the VM is not running")
            return
        async for notification in notifications:
            if (
                isinstance(notification, VmsChanged)
                and notification.host_id == target.host_id
                and not await still_running()
            ):
                await _close(stream, target, "the VM is not running")
                return


async def _close(stream: anyio.abc.ByteStream, target: ConsoleTarget, why: str) -> None:
    logger.info("closing the console of %s on %s: %s", target.vm_name, target.host_id, why)
    await stream.aclose()
