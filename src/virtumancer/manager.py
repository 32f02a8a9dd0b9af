"""Virtumancer: the one object the web service calls (one method per route)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, suppress
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import anyio
import anyio.abc
import attrs
from sqlalchemy.orm import Session

from virtumancer._version import __version__
from virtumancer.db import repositories as repo
from virtumancer.db.database import Database
from virtumancer.db.schema import HostRow
from virtumancer.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    VirtumancerError,
)
from virtumancer.models.domain import DomainDevices
from virtumancer.models.events import ConnectionState, PowerAction
from virtumancer.models.host import HostInfo
from virtumancer.models.notifications import HostsChanged, VmsChanged
from virtumancer.models.records import (
    ActivityEvent,
    ActivityType,
    DashboardOverview,
    DashboardStats,
    DiscoveredVm,
    DiskAttachmentRecord,
    HostPortRecord,
    HostRecord,
    HostVideoDeviceRecord,
    NetworkRecord,
    PortAttachmentRecord,
    PortRecord,
    StoragePoolRecord,
    StorageVolumeRecord,
    VideoAttachmentRecord,
    VideoModelRecord,
    VmRecord,
)
from virtumancer.models.settings import MetricsSettings
from virtumancer.models.tokens import ApiToken, CreatedToken, Role
from virtumancer.pool import ConnectionPool
from virtumancer.services.inventory import InventoryService
from virtumancer.services.notifications import NotificationHub, NotificationSubscription
from virtumancer.services.tokens import TokenService
from virtumancer.topology import TopologyLayout, build_topology, layout_topology
from virtumancer.uri import UriPolicy

if TYPE_CHECKING:
    from virtumancer.models.console import ConsoleTarget
    from virtumancer.services.metrics import MetricFamily
    from virtumancer.services.stats import StatsSampler

__all__ = ["Virtumancer"]

_log = logging.getLogger(__name__)

#: The power actions the API offers (``suspend``/``resume`` are extras of the SDK).
VM_ACTIONS = tuple(action.value for action in PowerAction)
#: Seconds :meth:`Virtumancer.aclose` waits for background provenance writes.
PROVENANCE_GRACE = 30.0


class Virtumancer:
    """Hosts, VMs, inventory, activity and settings behind one async object.

    Use it as ``async with Virtumancer(database_url) as vm: ...``. On entry the database is
    migrated, the saved hosts are added to the connection pool -- those a user disconnected
    stay disconnected, the others connect in the background (startup does not wait for
    them; :meth:`list_hosts` shows them ``CONNECTING``) -- and inventory sync starts (pool events
    plus a reconciliation every ``reconcile_interval`` seconds); on exit every background
    task is cancelled and every connection closed.

    ``database_url`` defaults to a SQLite file under the user data directory
    (``VIRTUMANCER_DATABASE_URL`` overrides it). ``stats_interval`` overrides the persisted
    ``stats_interval_seconds`` for this process (the runtime settings show the value used).
    ``uri_policy`` decides which host URIs :meth:`add_host` accepts (default: the library's
    :class:`~virtumancer.UriPolicy` with ``allow_test_uris``).
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        allow_test_uris: bool = True,
        uri_policy: UriPolicy | None = None,
        stats_interval: float | None = None,
        reconcile_interval: float = 60.0,
        pool: ConnectionPool | None = None,
    ) -> None:
        if stats_interval is not None:
            MetricsSettings(stats_interval_seconds=stats_interval)  # InvalidInputError early
        self._database_url = database_url
        self._stats_interval = stats_interval
        self.reconcile_interval = reconcile_interval
        self._pool = pool or ConnectionPool(allow_test_uris=allow_test_uris, uri_policy=uri_policy)
        self._database: Database | None = None
        self._inventory: InventoryService | None = None
        self._tokens: TokenService | None = None
        self._hub = NotificationHub()
        self._stats: StatsSampler | None = None
        self._settings = MetricsSettings()
        self._exit_stack: AsyncExitStack | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        # Saved hosts whose background connect has not started/finished yet.
        self._restoring: set[str] = set()
        self._restore_idle = anyio.Event()

    def __repr__(self) -> str:
        state = "open" if self._exit_stack is not None else "closed"
        return f"<Virtumancer {state} {self._pool!r} {self._database!r}>"

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._exit_stack is not None:
            raise ConflictError("Virtumancer is already open")
        async with AsyncExitStack() as stack:
            database = Database(self._database_url)
            stack.push_async_callback(database.aclose)
            await database.migrate()
            self._database = database
            self._tokens = TokenService(database)
            self._settings = await database.run(repo.get_metrics_settings)
            await stack.enter_async_context(self._pool)
            self._inventory = InventoryService(self._pool, database, self._hub, version=__version__)
            stack.callback(self._hub.close)
            self._stats = await stack.enter_async_context(self._make_sampler())
            group = await stack.enter_async_context(anyio.create_task_group())
            # Cancel our tasks before the pool closes, so its shutdown is not recorded as
            # hosts being disconnected by the user.
            stack.callback(group.cancel_scope.cancel)
            self._task_group = group
            self._inventory.task_group = group
            await group.start(self._inventory.run_events)
            await self._restore_hosts()
            group.start_soon(self._inventory.run_reconciliation, self.reconcile_interval)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop background work and close the pool and the database."""
        stack, self._exit_stack = self._exit_stack, None
        self._task_group = None
        self._restoring.clear()
        self._restore_idle.set()  # wake waiters of wait_restored
        self._restore_idle = anyio.Event()
        if stack is None:
            return
        if self._inventory is not None:
            # Let provenance writes of a just-finished import land (bounded).
            with anyio.move_on_after(PROVENANCE_GRACE, shield=True):
                await self._inventory.settle()
        await stack.aclose()

    def _make_sampler(self) -> StatsSampler:
        from virtumancer.services.stats import StatsSampler

        return StatsSampler(self._pool, self.runtime_metrics_settings)

    async def _restore_hosts(self) -> None:
        """Add the saved hosts to the pool; connect (then sync) in the background.

        Adding is quick; connecting is not (a silent host holds an open for the open
        timeout), so it runs in the manager's task group and startup never waits for it.
        Hosts a user disconnected stay disconnected; the others reconnect on their own.
        """
        hosts = await self._db.run(repo.list_hosts)
        for record in hosts:
            try:
                await self._pool.add_host(
                    record.id,
                    record.uri,
                    connect=False,
                    auto_reconnect_disabled=record.auto_reconnect_disabled,
                )
            except VirtumancerError as exc:
                _log.warning("cannot restore host %s: %s", record.id, exc)
                continue
            if not record.auto_reconnect_disabled:
                self._restoring.add(record.id)
                self._group.start_soon(self._connect_restored, record.id)

    async def _connect_restored(self, host_id: str) -> None:
        try:
            host = self._pool.get(host_id)
            await host.connect()  # on failure the pool keeps retrying with backoff
            await self._inv.sync_host(host_id)
        except VirtumancerError as exc:
            _log.info("host %s not reachable on start: %s", host_id, exc)
        except Exception:  # one bad host must not end the manager's task group
            _log.exception("restoring host %s failed", host_id)
        finally:
            self._restoring.discard(host_id)
            if not self._restoring:
                self._restore_idle.set()
                self._restore_idle = anyio.Event()

    async def wait_restored(self) -> None:
        """Wait until every saved host's startup connect (and first sync) was tried.

        Startup does not wait for them; scripts that need the hosts at once can. A host
        that could not connect keeps retrying in the background after this returns.
        """
        while self._restoring:
            await self._restore_idle.wait()

    @property
    def _group(self) -> anyio.abc.TaskGroup:
        if self._task_group is None:
            raise ConflictError("Virtumancer is not open (use `async with`)")
        return self._task_group

    @property
    def _db(self) -> Database:
        if self._database is None:
            raise ConflictError("Virtumancer is not open (use `async with`)")
        return self._database

    @property
    def _inv(self) -> InventoryService:
        if self._inventory is None:
            raise ConflictError("Virtumancer is not open (use `async with`)")
        return self._inventory

    @property
    def database(self) -> Database:
        """The database (for tests and scripts)."""
        return self._db

    @property
    def inventory(self) -> InventoryService:
        """The inventory service (for tests and scripts)."""
        return self._inv

    @property
    def tokens(self) -> TokenService:
        """The API token service (for tests and scripts)."""
        if self._tokens is None:
            raise ConflictError("Virtumancer is not open (use `async with`)")
        return self._tokens

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool, for tests and advanced scripts."""
        return self._pool

    async def metrics_snapshot(self) -> list[MetricFamily]:
        """Return every metric now, for a ``/metrics`` scrape (one libvirt call per host)."""
        from virtumancer.services.metrics import collect_metrics

        return await collect_metrics(self._pool)

    # -- hosts ---------------------------------------------------------------------------

    def _live(self, record: HostRecord) -> HostRecord:
        try:
            host = self._pool.get(record.id)
        except NotFoundError:
            return record
        state = host.state
        if state is ConnectionState.DISCONNECTED and record.id in self._restoring:
            state = ConnectionState.CONNECTING  # its background connect is about to start
        return attrs.evolve(
            record,
            state=state.value,
            last_error=host.last_error,
            auto_reconnect_disabled=host.auto_reconnect_disabled,
        )

    async def _store_host_state(
        self, host_id: str, *, activity: tuple[str, str] | None = None
    ) -> HostRecord:
        host = self._pool.get(host_id)

        def write(session: Session) -> HostRecord:
            record, _ = repo.update_host(
                session,
                host_id,
                state=host.state.value,
                last_error=host.last_error,
                auto_reconnect_disabled=host.auto_reconnect_disabled,
            )
            if activity is not None:
                repo.add_activity(session, activity[0], activity[1], host_id=host_id)
            return record

        record = await self._db.run(write)
        self._hub.publish(HostsChanged())
        return self._live(record)

    async def list_hosts(self) -> list[HostRecord]:
        """Return every configured host with its live connection state."""
        return [self._live(record) for record in await self._db.run(repo.list_hosts)]

    async def add_host(self, host_id: str, uri: str) -> HostRecord:
        """Add a host, connect to it, store it and sync its inventory.

        :class:`ConflictError` if the id exists, :class:`UriPolicyError` for a refused URI,
        :class:`HostUnavailableError` if it cannot connect (nothing is stored then).
        """
        if not isinstance(host_id, str) or not host_id.strip():
            raise InvalidInputError("host id must be a non-empty string", field="id")
        if not isinstance(uri, str) or not uri:
            raise InvalidInputError("uri must be a non-empty string", field="uri")
        existing = await self._db.run(lambda s: s.get(HostRow, host_id))
        if existing is not None:
            raise ConflictError("a host with this id already exists", host_id=host_id)
        await self._pool.add_host(host_id, uri, connect=True)
        try:

            def write(session: Session) -> HostRecord:
                record = repo.insert_host(session, host_id, uri, state="CONNECTED")
                repo.add_activity(
                    session, ActivityType.HOST_ADDED, f"Host {host_id} added", host_id=host_id
                )
                return record

            record = await self._db.run(write)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._pool.remove_host(host_id)
            raise
        self._hub.publish(HostsChanged())
        try:
            await self._inv.sync_host(host_id)
        except VirtumancerError as exc:
            _log.warning("first sync of host %s failed: %s", host_id, exc)
        return self._live(record)

    async def connect_host(self, host_id: str) -> HostRecord:
        """Connect a host now, even one a user disconnected (re-enables auto-reconnect)."""
        await self._db.run(lambda s: repo.get_host(s, host_id))
        host = self._pool.get(host_id)
        self._inv.expect_change(host_id, None)
        try:
            await host.connect()
        finally:
            await self._store_host_state(host_id)
        await self._inv.sync_host(host_id)
        return self._live(await self._db.run(lambda s: repo.get_host(s, host_id)))

    async def disconnect_host(self, host_id: str) -> HostRecord:
        """Disconnect a host and keep it disconnected until :meth:`connect_host`."""
        await self._db.run(lambda s: repo.get_host(s, host_id))
        self._inv.expect_change(host_id, None)
        await self._pool.get(host_id).disconnect()
        return await self._store_host_state(host_id)

    async def remove_host(self, host_id: str) -> None:
        """Disconnect a host and forget it and its inventory (:class:`NotFoundError`)."""
        await self._db.run(lambda s: repo.get_host(s, host_id))

        def write(session: Session) -> None:
            repo.delete_host(session, host_id)
            repo.add_activity(
                session, ActivityType.HOST_REMOVED, f"Host {host_id} removed", host_id=host_id
            )

        # The database first: if it fails, the host stays both stored and in the pool.
        await self._db.run(write)
        with suppress(NotFoundError):
            await self._pool.remove_host(host_id)
        self._inv.forget_host(host_id)
        self._hub.publish(HostsChanged())

    async def host_info(self, host_id: str) -> HostInfo:
        """Return live node information of a host."""
        return await self._pool.get(host_id).host_info()

    # -- VMs -----------------------------------------------------------------------------

    async def list_vms(self, host_id: str) -> list[VmRecord]:
        """Return the managed VMs of a host, from the database."""
        return await self._db.run(lambda s: repo.list_vms(s, host_id))

    async def vm_hardware(self, host_id: str, vm_name: str) -> DomainDevices:
        """Re-read a VM from libvirt, write it, and return its devices (disk sizes filled)."""
        host = self._pool.get(host_id)
        domain = await host.get_domain(vm_name)
        await self._inv.refresh_domains(host_id, {domain.uuid: None})
        sizes = {
            disk.device_name: disk.size_bytes
            for disk in await self._db.run(repo.list_disk_attachments)
            if disk.vm_uuid == domain.uuid and disk.host_id == host_id
        }
        disks = tuple(
            attrs.evolve(disk, size_bytes=sizes[disk.target_dev])
            if disk.size_bytes is None and sizes.get(disk.target_dev) is not None
            else disk
            for disk in domain.devices.disks
        )
        return attrs.evolve(domain.devices, disks=disks)

    async def vm_action(self, host_id: str, vm_name: str, action: str) -> None:
        """Apply a power action (start, shutdown, reboot, destroy, reset, suspend, resume).

        :class:`InvalidInputError` (``field="action"``) for anything else,
        :class:`ConflictError` when the VM's state does not allow it.
        """
        if action not in VM_ACTIONS:
            raise InvalidInputError(
                f"unknown action {action!r} (one of {', '.join(VM_ACTIONS)})",
                field="action",
                host_id=host_id,
                vm_name=vm_name,
            )
        host = self._pool.get(host_id)
        domain = await host.get_domain(vm_name)
        self._inv.expect_change(host_id, domain.uuid)
        try:
            await host.power(domain.uuid, PowerAction(action))
        except BaseException:
            self._inv.drop_claim(host_id, domain.uuid)
            raise
        # The event will follow; write the new state now so the caller's next read sees it.
        # (A reboot keeps the state: its activity entry comes from libvirt's reboot event.)
        await self._inv.refresh_domains(host_id, {domain.uuid: None})
        self._hub.publish(VmsChanged(host_id=host_id))

    # -- discovered ----------------------------------------------------------------------

    async def list_discovered_vms(self, host_id: str) -> list[DiscoveredVm]:
        """Return the domains of a host that are neither managed nor dismissed."""
        return await self._db.run(lambda s: repo.list_discovered(s, host_id))

    async def import_vm(self, host_id: str, vm_name: str) -> None:
        """Import one domain by name; importing a managed VM again does nothing."""
        await self._inv.import_vm(host_id, vm_name)

    async def import_all_vms(self, host_id: str) -> None:
        """Import every discovered (not dismissed) domain of a host."""
        await self._inv.import_all(host_id)

    async def import_selected_vms(self, host_id: str, domain_uuids: Sequence[str]) -> None:
        """Import the domains with these UUIDs (:class:`NotFoundError` if one is unknown)."""
        await self._inv.import_selected(host_id, domain_uuids)

    async def dismiss_discovered_vms(self, host_id: str, domain_uuids: Sequence[str]) -> None:
        """Hide discovered VMs; they stay hidden while the same domains exist."""
        await self._inv.dismiss(host_id, domain_uuids)

    async def settle(self) -> None:
        """Wait until background work started by imports (provenance writes) is done."""
        await self._inv.settle()

    async def sync_host(self, host_id: str) -> None:
        """Reconcile a host with libvirt now (what the periodic pass does)."""
        await self._inv.sync_host(host_id)

    # -- storage / network / video -------------------------------------------------------

    async def list_storage_pools(self, host_id: str | None = None) -> list[StoragePoolRecord]:
        """Return the storage pools of one host or of every host."""
        return await self._db.run(lambda s: repo.list_storage_pools(s, host_id))

    async def list_storage_volumes(self, host_id: str | None = None) -> list[StorageVolumeRecord]:
        """Return every volume of every pool of one host or of every host."""
        return await self._db.run(lambda s: repo.list_storage_volumes(s, host_id))

    async def list_disk_attachments(self) -> list[DiskAttachmentRecord]:
        """Return the disks of every managed VM."""
        return await self._db.run(repo.list_disk_attachments)

    async def list_networks(self, host_id: str | None = None) -> list[NetworkRecord]:
        """Return the networks of one host or of every host."""
        return await self._db.run(lambda s: repo.list_networks(s, host_id))

    async def list_ports(self) -> list[PortRecord]:
        """Return every port (virtual NIC) of every host."""
        return await self._db.run(repo.list_ports)

    async def list_host_ports(self, host_id: str) -> list[HostPortRecord]:
        """Return the ports of a host with the VMs they are attached to."""
        return await self._db.run(lambda s: repo.list_host_ports(s, host_id))

    async def list_port_attachments(
        self, host_id: str | None = None, vm_name: str | None = None
    ) -> list[PortAttachmentRecord]:
        """Return port attachments of every VM, of a host, or of one VM."""
        if vm_name is not None and host_id is None:
            raise InvalidInputError("vm_name needs a host_id", field="host_id")
        return await self._db.run(lambda s: repo.list_port_attachments(s, host_id, vm_name))

    async def list_video_models(self) -> list[VideoModelRecord]:
        """Return the video model templates seen on managed VMs."""
        return await self._db.run(repo.list_video_models)

    async def list_host_video_devices(self, host_id: str) -> list[HostVideoDeviceRecord]:
        """Return the GPUs of a host."""
        return await self._db.run(lambda s: repo.list_host_video_devices(s, host_id))

    async def list_video_attachments(
        self, host_id: str, vm_name: str
    ) -> list[VideoAttachmentRecord]:
        """Return the video adapters of one managed VM."""
        return await self._db.run(lambda s: repo.list_video_attachments(s, host_id, vm_name))

    # -- dashboard -----------------------------------------------------------------------

    async def dashboard_stats(self) -> DashboardStats:
        """Return system-wide counters (connected hosts are counted live)."""
        stats = await self._db.run(repo.dashboard_stats)
        connected = sum(h.state is ConnectionState.CONNECTED for h in self._pool.hosts())
        return attrs.evolve(stats, connected_hosts=connected)

    async def topology(self) -> TopologyLayout:
        """Return the placed picture of every host (live state) and its managed VMs."""
        hosts = await self.list_hosts()
        vms = await self._db.run(lambda s: {h.id: repo.list_vms(s, h.id) for h in hosts})
        return layout_topology(build_topology(hosts, vms))

    async def recent_activity(self, limit: int = 10) -> list[ActivityEvent]:
        """Return the newest ``limit`` activity entries, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be an integer from 1 to 1000", field="limit")
        return await self._db.run(lambda s: repo.recent_activity(s, limit))

    async def dashboard_overview(self, limit: int = 10) -> DashboardOverview:
        """Return the dashboard counters and the recent activity."""
        return DashboardOverview(
            stats=await self.dashboard_stats(),
            recent_activity=tuple(await self.recent_activity(limit)),
        )

    # -- settings ------------------------------------------------------------------------

    async def get_metrics_settings(self) -> MetricsSettings:
        """Return the persisted metrics settings."""
        return await self._db.run(repo.get_metrics_settings)

    async def update_metrics_settings(self, changes: Mapping[str, object]) -> MetricsSettings:
        """Merge ``changes`` into the persisted settings (:class:`InvalidInputError`)."""

        def write(session: Session) -> MetricsSettings:
            merged = repo.get_metrics_settings(session).merged(changes)
            repo.save_metrics_settings(session, merged)
            return merged

        merged = await self._db.run(write)
        self._settings = merged
        return merged

    async def runtime_metrics_settings(self) -> MetricsSettings:
        """Return the settings the running services use (with ``stats_interval`` applied)."""
        settings = self._settings
        if self._stats_interval is not None:
            settings = attrs.evolve(settings, stats_interval_seconds=self._stats_interval)
        return settings

    # -- API tokens ----------------------------------------------------------------------

    async def list_tokens(self) -> list[ApiToken]:
        """Return every API token (revoked ones too), never a secret."""
        return await self.tokens.list()

    async def create_token(
        self, name: str, role: Role | str, *, expires_at: dt.datetime | str | None = None
    ) -> CreatedToken:
        """Create an API token; the result carries its secret, shown this once.

        :class:`InvalidInputError` naming ``name``/``role``/``expires_at``,
        :class:`ConflictError` for a name in use.
        """
        return await self.tokens.create(name, role, expires_at=expires_at)

    async def revoke_token(self, token_id: str) -> None:
        """Revoke the token with this id (:class:`NotFoundError`); it stops working at once."""
        await self.tokens.revoke(token_id, by_name=False)

    async def authenticate_token(self, secret: str) -> ApiToken | None:
        """Return the valid token presenting ``secret``, else ``None`` (cached briefly)."""
        return await self.tokens.authenticate(secret)

    async def authenticate_token_id(self, token_id: str) -> ApiToken | None:
        """Return the valid token with this id, else ``None`` (for session cookies; cached)."""
        return await self.tokens.authenticate_id(token_id)

    # -- notifications, stats, consoles --------------------------------------------------

    def subscribe_notifications(
        self,
    ) -> AbstractAsyncContextManager[NotificationSubscription]:
        """Receive ``HostsChanged``/``VmsChanged`` after database writes.

        The subscription is an async iterator of :data:`Notification`; ``get_nowait()``
        takes one without waiting. Equal pending notifications are merged, so a stuck
        subscriber holds at most one per host.
        """
        return self._hub.subscribe()

    @property
    def stats(self) -> StatsSampler:
        """The live statistics sampler (one bulk call per host per tick)."""
        if self._stats is None:
            raise ConflictError("Virtumancer is not open (use `async with`)")
        return self._stats

    async def console_target(
        self, host_id: str, vm_name: str, kind: Literal["vnc", "spice"] | None = None
    ) -> ConsoleTarget:
        """Return where a running VM's console listens and how to reach it."""
        from virtumancer.services.console import resolve_console_target

        return await resolve_console_target(self._pool.get(host_id), vm_name, kind)

    def open_console(
        self, target: ConsoleTarget
    ) -> AbstractAsyncContextManager[anyio.abc.ByteStream]:
        """Open a byte stream to a console; it ends when the VM stops or the host goes."""
        from virtumancer.services.console import open_console_stream

        return open_console_stream(
            self._pool.get(target.host_id), target, events=self._pool.subscribe
        )
