"""Virtumancer: the one object the web service calls (one method per route)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import anyio
import anyio.abc

from virtumancer._logging import get_logger
from virtumancer._owner import Held, hold_open
from virtumancer._version import __version__
from virtumancer.db.database import Database
from virtumancer.exceptions import ConflictError, NotFoundError, VirtumancerError
from virtumancer.models import records
from virtumancer.models.domain import DomainDevices
from virtumancer.models.fleet import ClusterRecord
from virtumancer.models.host import HostInfo
from virtumancer.models.lifecycle import DeletePlan, DeviceScope, VmChange
from virtumancer.models.network import NatNetworkSpec, Network
from virtumancer.models.readiness import Readiness
from virtumancer.models.settings import MetricsSettings
from virtumancer.models.snapshot import Snapshot
from virtumancer.models.spec import DiskSpec, NicSpec, VmSpec, VolumeFormat
from virtumancer.models.storage import StoragePool, StorageVolume
from virtumancer.models.tasks import Task
from virtumancer.models.tokens import ApiToken, CreatedToken, Role
from virtumancer.pool import ConnectionPool
from virtumancer.services.fleet import FleetService
from virtumancer.services.hosts import HostService
from virtumancer.services.inventory import InventoryService
from virtumancer.services.lifecycle import LifecycleService
from virtumancer.services.notifications import NotificationHub, NotificationSubscription
from virtumancer.services.settings import SettingsService
from virtumancer.services.storage import StorageService
from virtumancer.services.tokens import TokenService
from virtumancer.services.views import InventoryViews
from virtumancer.services.vms import VmService
from virtumancer.tasks import TaskRegistry
from virtumancer.topology import TopologyLayout
from virtumancer.uri import UriPolicy

if TYPE_CHECKING:
    from virtumancer.models.console import ConsoleTarget
    from virtumancer.services.metrics import MetricFamily
    from virtumancer.services.stats import StatsSampler

__all__ = ["Virtumancer"]

_log = get_logger(__name__)

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

    ``database_url`` defaults to a SQLite file under the user data directory (the server's
    ``VIRTUMANCER_DATABASE_URL`` is read by its configuration, not here). ``stats_interval``
    overrides the persisted ``stats_interval_seconds`` for this process (the runtime settings
    show the value used).
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
        replica_id: str | None = None,
        replica_address: str = "",
    ) -> None:
        self._database_url = database_url
        self._replica = (replica_id, replica_address)
        self.reconcile_interval = reconcile_interval
        self._pool = pool or ConnectionPool(allow_test_uris=allow_test_uris, uri_policy=uri_policy)
        self._settings = SettingsService(stats_interval=stats_interval)
        self._hub = NotificationHub()
        self._services: _Services | None = None
        self._stats: StatsSampler | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._held: Held | None = None

    def __repr__(self) -> str:
        state = "open" if self._exit_stack is not None else "closed"
        database = self._services.database if self._services is not None else None
        return f"<Virtumancer {state} {self._pool!r} {database!r}>"

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._exit_stack is not None:
            raise ConflictError("Virtumancer is already open")
        async with AsyncExitStack() as stack:
            database = Database(self._database_url)
            stack.push_async_callback(database.aclose)
            await database.migrate()
            await self._settings.load(database)
            await stack.enter_async_context(self._pool)
            services = _Services.wire(self._pool, database, self._hub)
            fleet = FleetService(
                database=database,
                database_url=self._database_url,
                hosts=services.hosts,
                hub=self._hub,
                settings=self._settings,
                replica_id=self._replica[0],
                address=self._replica[1],
            )
            services.fleet = fleet
            stack.callback(self._hub.close)
            self._stats = await stack.enter_async_context(self._make_sampler())
            fleet.stats = self._stats
            fleet.tasks = services.tasks
            group = await stack.enter_async_context(anyio.create_task_group())
            # Cancel our tasks before the pool closes, so its shutdown is not recorded as
            # hosts being disconnected by the user.
            stack.callback(group.cancel_scope.cancel)
            services.inventory.task_group = group
            services.hosts.task_group = group
            services.tasks.task_group = group
            self._services = services
            await group.start(services.inventory.run_events)
            # Fleet mode (PostgreSQL) adopts only the hosts this replica owns; else all.
            stack.push_async_callback(fleet.aclose)
            if not await fleet.start(group):
                await services.hosts.restore()
            group.start_soon(services.inventory.run_reconciliation, self.reconcile_interval)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> Self:
        """Open like ``async with``, but so that any task may :meth:`aclose` it.

        For notebooks, where each cell is a task of its own: ``await vm.open()`` in one
        cell, ``await vm.aclose()`` in a later one (``async with`` would fail to close
        there: anyio's task groups must be exited by the task that entered them). The
        background work then runs in a task of its own.
        """
        self._held = await hold_open(self)
        return self

    async def aclose(self) -> None:
        """Stop background work and close the pool and the database."""
        held, self._held = self._held, None
        if held is not None:
            await held.close()  # its task exits ``async with``, which comes back here
            return
        stack, self._exit_stack = self._exit_stack, None
        services = self._services
        if services is not None:
            services.hosts.stop_restoring()  # wake waiters of wait_restored
        if stack is None:
            return
        if services is not None:
            # Let provenance writes of a just-finished import land (bounded).
            with anyio.move_on_after(PROVENANCE_GRACE, shield=True):
                await services.inventory.settle()
        await stack.aclose()

    def _make_sampler(self) -> StatsSampler:
        from virtumancer.services.stats import StatsSampler

        return StatsSampler(self._pool, self.runtime_metrics_settings)

    async def wait_restored(self) -> None:
        """Wait until every saved host's startup connect (and first sync) was tried.

        Startup does not wait for them; scripts that need the hosts at once can. A host
        that could not connect keeps retrying in the background after this returns.
        """
        if self._services is not None:
            await self._services.hosts.wait_restored()

    @property
    def _open(self) -> _Services:
        if self._services is None:
            raise ConflictError("Virtumancer is not open (use `async with`)")
        return self._services

    @property
    def database(self) -> Database:
        """The database (for tests and scripts)."""
        return self._open.database

    @property
    def inventory(self) -> InventoryService:
        """The inventory service (for tests and scripts)."""
        return self._open.inventory

    @property
    def hosts(self) -> HostService:
        """The host service (for tests and scripts)."""
        return self._open.hosts

    @property
    def tokens(self) -> TokenService:
        """The API token service (for tests and scripts)."""
        return self._open.tokens

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool, for tests and advanced scripts."""
        return self._pool

    async def metrics_snapshot(self) -> list[MetricFamily]:
        """Return every metric now, for a ``/metrics`` scrape (one libvirt call per host)."""
        from virtumancer.services.metrics import collect_metrics

        return await collect_metrics(self._pool)

    # -- fleet ---------------------------------------------------------------------------

    @property
    def fleet(self) -> FleetService:
        """The fleet service: this replica's id, the hosts it owns (for tests and scripts)."""
        return self._open.fleet

    async def cluster(self) -> ClusterRecord:
        """Return the replicas of the fleet and the hosts each owns (SQLite: this process)."""
        return await self._open.fleet.cluster()

    async def readiness(self) -> Readiness:
        """Return whether this replica is ready for work.

        Ready: its database answers and, in a fleet, it owns its share of the hosts (see
        :mod:`virtumancer.services.readiness`).
        """
        from virtumancer.services.readiness import check_readiness

        services = self._open
        return await check_readiness(
            database=services.database, fleet=services.fleet, hosts=services.hosts
        )

    # -- hosts ---------------------------------------------------------------------------

    async def list_hosts(self) -> list[records.HostRecord]:
        """Return every configured host with its live connection state."""
        return await self._open.hosts.list_hosts()

    async def add_host(self, host_id: str, uri: str) -> records.HostRecord:
        """Add a host, connect to it, store it and sync its inventory.

        :class:`ConflictError` if the id exists, :class:`UriPolicyError` for a refused URI,
        :class:`HostUnavailableError` if it cannot connect (nothing is stored then).
        """
        return await self._open.hosts.add_host(host_id, uri)

    async def connect_host(self, host_id: str) -> records.HostRecord:
        """Connect a host now, even one a user disconnected (re-enables auto-reconnect)."""
        return await self._open.hosts.connect_host(host_id)

    async def disconnect_host(self, host_id: str) -> records.HostRecord:
        """Disconnect a host and keep it disconnected until :meth:`connect_host`."""
        return await self._open.hosts.disconnect_host(host_id)

    async def remove_host(self, host_id: str) -> None:
        """Disconnect a host and forget it and its inventory (:class:`NotFoundError`)."""
        await self._open.hosts.remove_host(host_id)

    async def host_info(self, host_id: str) -> HostInfo:
        """Return live node information of a host."""
        return await self._open.hosts.host_info(host_id)

    # -- VMs -----------------------------------------------------------------------------

    async def list_vms(self, host_id: str) -> list[records.VmRecord]:
        """Return the managed VMs of a host, from the database."""
        return await self._open.views.list_vms(host_id)

    async def vm_hardware(self, host_id: str, vm_name: str) -> DomainDevices:
        """Re-read a VM from libvirt once, write it, and return its devices (disk sizes filled).

        Writes only the database, never libvirt. ``size_bytes`` comes from the host's pool
        volumes, else from libvirt's block info (a file or block device in no pool).
        """
        return await self._open.vms.hardware(host_id, vm_name)

    async def vm_action(self, host_id: str, vm_name: str, action: str) -> None:
        """Apply a power action (start, shutdown, reboot, destroy, reset, suspend, resume).

        :class:`InvalidInputError` (``field="action"``) for anything else,
        :class:`ConflictError` when the VM's state does not allow it.
        """
        await self._open.vms.action(host_id, vm_name, action)

    async def create_vm(
        self, host_id: str, spec: VmSpec, *, start: bool = False
    ) -> records.VmRecord:
        """Create a VM from a spec (volumes, seed ISO, definition; started if asked).

        The VM is managed at once (provenance written, in the database, an activity entry).
        :class:`ConflictError` for a name in use or disks that do not fit their pool,
        :class:`InvalidInputError` naming the field for an unknown pool or volume; a
        failure half-way removes whatever was made.
        """
        return await self._open.lifecycle.create_vm(host_id, spec, start=start)

    async def define_vm_xml(
        self, host_id: str, xml: str, *, start: bool = False
    ) -> records.VmRecord:
        """Define a VM from raw domain XML (checked by the parser before libvirt sees it)."""
        return await self._open.lifecycle.define_vm_xml(host_id, xml, start=start)

    async def update_vm(self, host_id: str, vm_name: str, change: VmChange) -> records.VmRecord:
        """Change memory, vCPUs, description, autostart or CD-ROM media, in place."""
        return await self._open.lifecycle.update_vm(host_id, vm_name, change)

    async def attach_disk(
        self,
        host_id: str,
        vm_name: str,
        disk: DiskSpec,
        *,
        target: str | None = None,
        scope: DeviceScope | None = None,
    ) -> records.VmRecord:
        """Attach a disk: a new volume, an existing volume or path, or an overlay.

        ``scope``: the running VM, its definition or both (default: as libvirt allows).
        """
        return await self._open.lifecycle.attach_disk(
            host_id, vm_name, disk, target=target, scope=scope
        )

    async def detach_disk(
        self, host_id: str, vm_name: str, target: str, *, scope: DeviceScope | None = None
    ) -> records.VmRecord:
        """Detach the disk whose guest device is ``target``; its volume is kept."""
        return await self._open.lifecycle.detach_disk(host_id, vm_name, target, scope=scope)

    async def attach_interface(
        self, host_id: str, vm_name: str, nic: NicSpec, *, scope: DeviceScope | None = None
    ) -> records.VmRecord:
        """Attach a NIC on a libvirt network or a bridge (a MAC is generated if none)."""
        return await self._open.lifecycle.attach_interface(host_id, vm_name, nic, scope=scope)

    async def detach_interface(
        self, host_id: str, vm_name: str, mac: str, *, scope: DeviceScope | None = None
    ) -> records.VmRecord:
        """Detach the NIC with MAC ``mac``."""
        return await self._open.lifecycle.detach_interface(host_id, vm_name, mac, scope=scope)

    async def list_snapshots(self, host_id: str, vm_name: str) -> list[Snapshot]:
        """Return a VM's snapshots as a tree, depth first (``parent``, ``children``)."""
        return await self._open.lifecycle.list_snapshots(host_id, vm_name)

    async def create_snapshot(
        self,
        host_id: str,
        vm_name: str,
        name: str | None = None,
        *,
        description: str = "",
        memory: bool | None = None,
    ) -> Snapshot:
        """Take a snapshot (``memory``: the guest's memory too; default: if it runs)."""
        return await self._open.lifecycle.create_snapshot(
            host_id, vm_name, name, description=description, memory=memory
        )

    async def revert_snapshot(self, host_id: str, vm_name: str, snapshot: str) -> records.VmRecord:
        """Revert a VM to a snapshot: disks, definition, and memory if it holds any."""
        return await self._open.lifecycle.revert_snapshot(host_id, vm_name, snapshot)

    async def delete_snapshot(
        self, host_id: str, vm_name: str, snapshot: str, *, children: bool = False
    ) -> list[str]:
        """Delete a snapshot (``children``: its descendants too); return the names deleted."""
        return await self._open.lifecycle.delete_snapshot(
            host_id, vm_name, snapshot, children=children
        )

    async def clone_vm(
        self, host_id: str, vm_name: str, name: str, *, full_copy: bool = False
    ) -> Task:
        """Clone a shut-off VM (disks as overlays, or full copies); return the task.

        The task's result is the clone's record; its progress counts the bytes copied.
        """
        return await self._open.lifecycle.clone_vm(host_id, vm_name, name, full_copy=full_copy)

    # -- storage and networks -------------------------------------------------------------

    async def create_storage_pool(
        self, host_id: str, name: str, path: str, *, autostart: bool = True
    ) -> StoragePool:
        """Define and start a directory storage pool at ``path`` (made if missing)."""
        return await self._open.storage.create_storage_pool(
            host_id, name, path, autostart=autostart
        )

    async def delete_storage_pool(
        self, host_id: str, pool_name: str, *, delete_volumes: bool = False
    ) -> list[str]:
        """Delete a storage pool (refused with volumes unless ``delete_volumes``)."""
        return await self._open.storage.delete_storage_pool(
            host_id, pool_name, delete_volumes=delete_volumes
        )

    async def create_volume(
        self,
        host_id: str,
        pool_name: str,
        name: str,
        size_bytes: int,
        *,
        format: VolumeFormat | str = VolumeFormat.QCOW2,
    ) -> StorageVolume:
        """Create a volume (sparse) in a pool."""
        return await self._open.storage.create_volume(
            host_id, pool_name, name, size_bytes, format=format
        )

    async def copy_volume(
        self,
        host_id: str,
        pool_name: str,
        volume_name: str,
        name: str,
        *,
        target_pool: str | None = None,
    ) -> Task:
        """Copy a volume as ``name`` (into ``target_pool``, default its pool); return the task.

        The host copies; the task's progress counts the bytes, its result is the new volume.
        """
        return await self._open.storage.copy_volume(
            host_id, pool_name, volume_name, name, target_pool=target_pool
        )

    async def resize_volume(
        self, host_id: str, pool_name: str, volume_name: str, size_bytes: int
    ) -> StorageVolume:
        """Grow a volume (shrinking is refused)."""
        return await self._open.storage.resize_volume(host_id, pool_name, volume_name, size_bytes)

    async def delete_volume(self, host_id: str, pool_name: str, volume_name: str) -> None:
        """Delete a volume (refused while a VM uses it)."""
        await self._open.storage.delete_volume(host_id, pool_name, volume_name)

    async def define_network(self, host_id: str, spec: NatNetworkSpec) -> Network:
        """Define a NAT network with a DHCP range (not started)."""
        return await self._open.storage.define_network(host_id, spec)

    async def start_network(self, host_id: str, network_name: str) -> Network:
        """Start a network."""
        return await self._open.storage.start_network(host_id, network_name)

    async def stop_network(self, host_id: str, network_name: str) -> Network:
        """Stop a network."""
        return await self._open.storage.stop_network(host_id, network_name)

    async def delete_network(self, host_id: str, network_name: str) -> None:
        """Stop and undefine a network."""
        await self._open.storage.delete_network(host_id, network_name)

    async def get_task(self, task_id: str) -> Task:
        """Return a task: its state, progress, and result or error."""
        return self._open.tasks.get(task_id)

    async def cancel_task(self, task_id: str) -> Task:
        """Ask a running task to stop (:class:`ConflictError` if it finished already)."""
        return self._open.tasks.cancel(task_id)

    async def delete_vm(
        self, host_id: str, vm_name: str, *, delete_storage: bool = False, force: bool = False
    ) -> list[str]:
        """Delete a VM (``force``: destroy a running one first; ``delete_storage``: volumes)."""
        return await self._open.lifecycle.delete_vm(
            host_id, vm_name, delete_storage=delete_storage, force=force
        )

    async def delete_plan(self, host_id: str, vm_name: str) -> DeletePlan:
        """Return what :meth:`delete_vm` would remove: volumes, NVRAM, snapshots; no change.

        ``volumes`` go only with ``delete_storage``; ``kept`` stay even then.
        """
        return await self._open.lifecycle.delete_plan(host_id, vm_name)

    # -- discovered ----------------------------------------------------------------------

    async def list_discovered_vms(self, host_id: str) -> list[records.DiscoveredVm]:
        """Return the domains of a host that are neither managed nor dismissed."""
        return await self._open.views.list_discovered_vms(host_id)

    async def import_vm(self, host_id: str, vm_name: str) -> None:
        """Import one domain by name; importing a managed VM again does nothing."""
        await self._open.inventory.import_vm(host_id, vm_name)

    async def import_all_vms(self, host_id: str) -> None:
        """Import every discovered (not dismissed) domain of a host."""
        await self._open.inventory.import_all(host_id)

    async def import_selected_vms(self, host_id: str, domain_uuids: Sequence[str]) -> None:
        """Import the domains with these UUIDs (:class:`NotFoundError` if one is unknown)."""
        await self._open.inventory.import_selected(host_id, domain_uuids)

    async def dismiss_discovered_vms(self, host_id: str, domain_uuids: Sequence[str]) -> None:
        """Hide discovered VMs; they stay hidden while the same domains exist."""
        await self._open.inventory.dismiss(host_id, domain_uuids)

    async def settle(self) -> None:
        """Wait until background work started by imports (provenance writes) is done."""
        await self._open.inventory.settle()

    async def sync_host(self, host_id: str) -> None:
        """Reconcile a host with libvirt now (what the periodic pass does)."""
        await self._open.inventory.sync_host(host_id)

    # -- storage / network / video -------------------------------------------------------

    async def list_storage_pools(
        self, host_id: str | None = None
    ) -> list[records.StoragePoolRecord]:
        """Return the storage pools of one host or of every host."""
        return await self._open.views.list_storage_pools(host_id)

    async def list_storage_volumes(
        self, host_id: str | None = None
    ) -> list[records.StorageVolumeRecord]:
        """Return every volume of every pool of one host or of every host."""
        return await self._open.views.list_storage_volumes(host_id)

    async def list_disk_attachments(self) -> list[records.DiskAttachmentRecord]:
        """Return the disks of every managed VM."""
        return await self._open.views.list_disk_attachments()

    async def list_networks(self, host_id: str | None = None) -> list[records.NetworkRecord]:
        """Return the networks of one host or of every host."""
        return await self._open.views.list_networks(host_id)

    async def list_ports(self) -> list[records.PortRecord]:
        """Return every port (virtual NIC) of every host."""
        return await self._open.views.list_ports()

    async def list_host_ports(self, host_id: str) -> list[records.HostPortRecord]:
        """Return the ports of a host with the VMs they are attached to."""
        return await self._open.views.list_host_ports(host_id)

    async def list_port_attachments(
        self, host_id: str | None = None, vm_name: str | None = None
    ) -> list[records.PortAttachmentRecord]:
        """Return port attachments of every VM, of a host, or of one VM."""
        return await self._open.views.list_port_attachments(host_id, vm_name)

    async def list_video_models(self) -> list[records.VideoModelRecord]:
        """Return the video model templates seen on managed VMs."""
        return await self._open.views.list_video_models()

    async def list_host_video_devices(self, host_id: str) -> list[records.HostVideoDeviceRecord]:
        """Return the GPUs of a host."""
        return await self._open.views.list_host_video_devices(host_id)

    async def list_video_attachments(
        self, host_id: str, vm_name: str
    ) -> list[records.VideoAttachmentRecord]:
        """Return the video adapters of one managed VM."""
        return await self._open.views.list_video_attachments(host_id, vm_name)

    # -- dashboard -----------------------------------------------------------------------

    async def dashboard_stats(self) -> records.DashboardStats:
        """Return system-wide counters (connected hosts are counted live)."""
        return await self._open.views.dashboard_stats()

    async def topology(self) -> TopologyLayout:
        """Return the placed picture of every host (live state) and its managed VMs."""
        return await self._open.views.topology()

    async def recent_activity(self, limit: int = 10) -> list[records.ActivityEvent]:
        """Return the newest ``limit`` activity entries, newest first."""
        return await self._open.views.recent_activity(limit)

    async def dashboard_overview(self, limit: int = 10) -> records.DashboardOverview:
        """Return the dashboard counters and the recent activity."""
        return await self._open.views.dashboard_overview(limit)

    # -- settings ------------------------------------------------------------------------

    async def get_metrics_settings(self) -> MetricsSettings:
        """Return the persisted metrics settings."""
        return await self._settings.get_metrics_settings()

    async def update_metrics_settings(self, changes: Mapping[str, object]) -> MetricsSettings:
        """Merge ``changes`` into the persisted settings (:class:`InvalidInputError`)."""
        return await self._settings.update_metrics_settings(changes)

    async def runtime_metrics_settings(self) -> MetricsSettings:
        """Return the settings the running services use (with ``stats_interval`` applied)."""
        return await self._settings.runtime_metrics_settings()

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

        return await resolve_console_target(self._pool.reach(host_id), vm_name, kind)

    def open_console(
        self, target: ConsoleTarget
    ) -> AbstractAsyncContextManager[anyio.abc.ByteStream]:
        """Open a byte stream to a console; it ends when the VM stops or the host goes.

        The host's libvirt events end it where this process holds the host. In a fleet a
        replica that does not own the host gets no events for it, so every ``VmsChanged``
        of the host (sent by whichever replica wrote the change) also re-checks that the VM
        still runs (:meth:`_console_vm_running`). In a fleet both run on every console, so a
        session outlives a change of owner; a single process holds every host.
        """
        from virtumancer.services.console import open_console_stream

        in_fleet = self._open.fleet.enabled
        return open_console_stream(
            self._pool.reach(target.host_id),
            target,
            events=self._pool.subscribe,
            changes=self._hub.subscribe if in_fleet else None,
            still_running=(lambda: self._console_vm_running(target)) if in_fleet else None,
        )

    async def _console_vm_running(self, target: ConsoleTarget) -> bool:
        # The database first: it is what the notification announced, and most changes of a
        # host are to other VMs. A row saying "stopped" is confirmed with libvirt before the
        # console ends: the row can lag behind a start (the owner syncs it a moment later).
        from virtumancer.models.domain import ACTIVE_DOMAIN_STATES

        try:
            row = await self._open.views.get_vm(target.host_id, target.vm_name)
        except VirtumancerError:  # not managed (or the database is away): ask libvirt
            row = None
        if (
            row is not None
            and row.uuid == target.domain_uuid
            and row.gone_at is None
            and row.state in ACTIVE_DOMAIN_STATES
        ):
            return True
        try:
            domain = await self._pool.reach(target.host_id).get_domain(target.domain_uuid)
        except NotFoundError:  # the domain or the host is gone
            return False
        except VirtumancerError as exc:
            # Unknown: keep the console; its graphics server closes it if the VM is gone.
            _log.debug("console of %s: state unknown (%s)", target.vm_name, exc)
            return True
        return domain.state is None or domain.state in ACTIVE_DOMAIN_STATES


class _Services:
    """The services of one open :class:`Virtumancer`, wired to each other."""

    def __init__(
        self,
        *,
        database: Database,
        inventory: InventoryService,
        hosts: HostService,
        views: InventoryViews,
        vms: VmService,
        tokens: TokenService,
        lifecycle: LifecycleService,
        tasks: TaskRegistry,
        storage: StorageService,
    ) -> None:
        self.database = database
        self.inventory = inventory
        self.hosts = hosts
        self.views = views
        self.vms = vms
        self.tokens = tokens
        self.lifecycle = lifecycle
        self.tasks = tasks
        self.storage = storage
        self.fleet: FleetService  # set by Virtumancer, which knows the replica

    @classmethod
    def wire(cls, pool: ConnectionPool, database: Database, hub: NotificationHub) -> _Services:
        """Make every service and connect them (the host service writes host state)."""
        inventory = InventoryService(pool, database, hub, version=__version__)
        hosts = HostService(pool, database, hub, inventory)
        inventory.on_host_state = hosts.record_state_change
        tasks = TaskRegistry(hub)
        return cls(
            database=database,
            inventory=inventory,
            hosts=hosts,
            views=InventoryViews(database, hosts),
            vms=VmService(pool, inventory, hub),
            tokens=TokenService(database),
            lifecycle=LifecycleService(pool, database, inventory, hub, tasks),
            tasks=tasks,
            storage=StorageService(pool, database, inventory, hub, tasks),
        )
