"""Inventory sync: keep the database true to libvirt, per host.

Two paths feed the database:

- **events** -- every domain event from the pool re-reads *that* domain and writes it at
  once (bursts are merged: each domain is read once per burst);
- **reconciliation** -- a full pass over a host (domains, pools, every volume, networks,
  GPUs) on connect and periodically, catching anything an event missed.

Both compare before writing, so a pass that finds nothing changed writes nothing. Imports
write provenance into each domain's ``<metadata>`` (our namespace) after the database commit;
a crash in between is repaired by the next pass, which writes the missing provenance.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.abc

from virtumancer import _metrics
from virtumancer._logging import get_logger
from virtumancer.db import DbSession
from virtumancer.db import queries as db_queries
from virtumancer.db import sync_writes as db_sync
from virtumancer.db.database import Database
from virtumancer.exceptions import (
    HostUnavailableError,
    InvalidInputError,
    NotFoundError,
    VirtumancerError,
)
from virtumancer.models.domain import Domain
from virtumancer.models.events import (
    ConnectionState,
    DomainLifecycleEvent,
    DomainMetadataChangeEvent,
    DomainRebootEvent,
    HostStateChanged,
    LifecycleEventType,
    PoolEvent,
)
from virtumancer.models.metadata import METADATA_NAMESPACE, VirtumancerMetadata
from virtumancer.models.notifications import VmsChanged
from virtumancer.models.records import ActivityType
from virtumancer.models.storage import StoragePool, StorageVolume
from virtumancer.models.tokens import acting_as, current_actor
from virtumancer.rules import MANAGED_BY
from virtumancer.services.notifications import NotificationHub

if TYPE_CHECKING:
    from virtumancer.pool import ConnectionPool, EventSubscription, HostPool, ListedDomain

__all__ = ["HostStateWriter", "InventoryService"]

#: Stores a host's state change: ``(event, previous state, actor who caused it)``.
HostStateWriter = Callable[[HostStateChanged, ConnectionState | None, str | None], Awaitable[None]]

_log = get_logger(__name__)

#: Domains imported per database transaction: a crash loses at most one batch.
IMPORT_BATCH = 250
#: Above this many changed domains in one burst, a full pass is cheaper than one read each.
FULL_PASS_THRESHOLD = 200
#: Seconds a request's claim on the next change of a domain or host lasts.
ACTOR_CLAIM_S = 30.0
#: Domains whose provenance is written per worker-thread call.
METADATA_CHUNK = 100


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lifecycle_hint(event: DomainLifecycleEvent) -> str | None:
    if event.event is LifecycleEventType.CRASHED or event.detail == "crashed":
        return ActivityType.VM_CRASHED
    return None


T = TypeVar("T")


async def _listed(
    host_id: str, what: str, read: Callable[[], Awaitable[T]], level: int = logging.WARNING
) -> T | None:
    """Return what ``read`` lists, or ``None`` (logged) if libvirt cannot list it.

    A host without a driver (no storage, no node devices) still syncs the rest; a lost
    connection ends the pass.
    """
    try:
        return await read()
    except HostUnavailableError:
        raise
    except VirtumancerError as exc:
        _log.log(level, "cannot list %s of host %s: %s", what, host_id, exc)
        return None


class InventoryService:
    """Sync, import and dismiss for every host of a pool; see the module docstring.

    ``domains_read`` counts domains re-read one by one (the event path) and ``full_passes``
    the full reconciliation passes, for tests and benchmarks.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        database: Database,
        hub: NotificationHub,
        *,
        version: str = "0",
    ) -> None:
        self.pool = pool
        self.database = database
        self.hub = hub
        self.version = version
        self._locks: dict[str, anyio.Lock] = {}
        # Per host, the domains as of the last full pass, kept current by the event path.
        self._domains: dict[str, dict[str, Domain]] = {}
        self._last_pass: dict[str, dt.datetime] = {}
        # Per host, the last full listing by UUID: its unchanged XML is not parsed again.
        self._listed: dict[str, dict[str, ListedDomain]] = {}
        self._host_states: dict[str, ConnectionState] = {}
        # (host id, domain UUID or "" for the host) -> (actor, monotonic end of the claim)
        self._actors: dict[tuple[str, str], tuple[str, float]] = {}
        self.domains_read = 0
        self.full_passes = 0
        self.events_handled = 0
        self.metadata_written = 0
        #: full resyncs run because the event subscription dropped events
        self.missed_event_resyncs = 0
        #: where provenance is written in the background (set by the owner; None: inline)
        self.task_group: anyio.abc.TaskGroup | None = None
        self._pending_provenance = 0
        #: the writer of host state changes (the host service; set by the owner)
        self.on_host_state: HostStateWriter | None = None
        self._provenance_idle = anyio.Event()

    def __repr__(self) -> str:
        return f"<InventoryService passes: {self.full_passes}, domains read: {self.domains_read}>"

    def _lock(self, host_id: str) -> anyio.Lock:
        lock = self._locks.get(host_id)
        if lock is None:
            lock = self._locks[host_id] = anyio.Lock()
        return lock

    def forget_host(self, host_id: str) -> None:
        """Drop per-host state of a removed host."""
        self._domains.pop(host_id, None)
        self._last_pass.pop(host_id, None)
        self._listed.pop(host_id, None)
        self._locks.pop(host_id, None)
        self._host_states.pop(host_id, None)

    def _host(self, host_id: str) -> HostPool:
        # A request's re-read or sync after a change may run on a replica that does not own
        # the host (fleet mode): it borrows a connection. Background passes iterate the
        # held hosts only.
        return self.pool.reach(host_id)

    def _metadata(self) -> VirtumancerMetadata:
        return VirtumancerMetadata(
            managed_by=MANAGED_BY,
            imported_at=_now(),
            imported_by=socket.gethostname(),
            version=self.version,
        )

    # -- full pass -----------------------------------------------------------------------

    async def sync_host(self, host_id: str) -> db_sync.SyncOutcome:
        """Reconcile one host: pools, volumes, networks, GPUs, then every domain."""
        host = self._host(host_id)
        async with self._lock(host_id):
            started = _now()
            clock = time.monotonic()
            await self._sync_resources(host)
            domains = await self._list_domains(host)
            outcome = await self.database.run_merging(
                lambda s: db_sync.apply_domains(s, host_id, domains, complete=True)
            )
            self._domains[host_id] = {domain.uuid: domain for domain in domains}
            self._last_pass[host_id] = started
            self.full_passes += 1
            _metrics.SYNC_DURATION.observe(time.monotonic() - clock, host=host_id)
        await self._provenance(host, outcome.missing_metadata)
        if outcome.changed:
            self.hub.publish(VmsChanged(host_id=host_id))
        return outcome

    async def _list_domains(self, host: HostPool) -> list[Domain]:
        """List every domain of a host, reusing parses of XML that did not change."""
        # Autostart is not stored: skip the RPC that learns it.
        listing = await host.list_domains_with_xml(self._listed.get(host.host_id), autostart=False)
        self._listed[host.host_id] = {entry.domain.uuid: entry for entry in listing}
        return [entry.domain for entry in listing]

    async def refresh_storage(self, host_id: str) -> None:
        """Re-read a host's pools and volumes into the database now (nothing else).

        For changes a request made that create or delete volumes (a VM created, cloned or
        deleted with its storage, a disk attached, a volume made): the pools' free space and
        the volume rows are true at once, not at the next full pass.
        """
        host = self._host(host_id)
        async with self._lock(host_id):
            await self._sync_storage(host)

    async def _sync_storage(self, host: HostPool) -> None:
        host_id = host.host_id

        async def storage() -> tuple[list[StoragePool], list[StorageVolume]]:
            return await host.list_storage_pools(), await host.list_storage_volumes()

        if (found := await _listed(host_id, "storage", storage)) is not None:
            pools, volumes = found
            await self.database.run_merging(
                lambda s: db_sync.apply_storage(s, host_id, pools, volumes)
            )

    async def _sync_resources(self, host: HostPool) -> None:
        host_id = host.host_id
        await self._sync_storage(host)
        if (networks := await _listed(host_id, "networks", host.list_networks)) is not None:
            await self.database.run_merging(lambda s: db_sync.apply_networks(s, host_id, networks))
        # Many hosts have no GPU, or no node device driver: not worth a warning.
        if (gpus := await _listed(host_id, "GPUs", host.list_gpus, logging.INFO)) is not None:
            await self.database.run_merging(lambda s: db_sync.apply_gpus(s, host_id, gpus))

    async def _write_metadata(self, host: HostPool, domains: Sequence[Domain]) -> None:
        """Write our provenance into ``domains`` now, a chunk per worker-thread call.

        Failures (a domain that vanished, ...) are logged; the next pass retries them.
        """
        metadata = self._metadata()
        for start in range(0, len(domains), METADATA_CHUNK):
            chunk = domains[start : start + METADATA_CHUNK]
            try:
                failures = await host.set_metadata_many((d, metadata) for d in chunk)
            except VirtumancerError as exc:
                _log.warning("cannot write provenance on host %s: %s", host.host_id, exc)
                return
            for uuid, error in failures.items():
                _log.warning("cannot write provenance of domain %s: %s", uuid, error)
            self.metadata_written += len(chunk) - len(failures)

    async def _provenance(self, host: HostPool, domains: Sequence[Domain]) -> None:
        """Write provenance in the background (in the owner's task group), else now.

        The database commit is what makes a VM managed; provenance only lets a fresh
        database re-learn it, and the next pass writes whatever a crash left unwritten.
        """
        if not domains:
            return
        group = self.task_group
        if group is None:
            await self._write_metadata(host, domains)
            return
        self._pending_provenance += 1
        group.start_soon(self._background_provenance, host, list(domains))

    async def _background_provenance(self, host: HostPool, domains: list[Domain]) -> None:
        try:
            await self._write_metadata(host, domains)
        except Exception:  # never end the owner's task group; the next pass retries
            _log.exception("provenance write on host %s failed", host.host_id)
        finally:
            self._pending_provenance -= 1
            if self._pending_provenance == 0:
                self._provenance_idle.set()
                self._provenance_idle = anyio.Event()

    async def settle(self) -> None:
        """Wait until every background provenance write has finished."""
        while self._pending_provenance:
            await self._provenance_idle.wait()

    # -- event path ----------------------------------------------------------------------

    async def refresh_domains(self, host_id: str, hints: Mapping[str, str | None]) -> None:
        """Re-read the given domains (by UUID) of a host and write what changed."""
        host = self._host(host_id)
        async with self._lock(host_id):
            found: list[Domain] = []
            missing: list[str] = []
            for uuid in hints:
                try:
                    found.append(await host.get_domain(uuid))
                except NotFoundError:
                    missing.append(uuid)
                self.domains_read += 1
            outcome = await self._store_read(host_id, found, missing, hints)
        await self._provenance(host, outcome.missing_metadata)
        if outcome.changed:
            self.hub.publish(VmsChanged(host_id=host_id))

    async def read_domain(self, host_id: str, key: str, *, disk_sizes: bool = False) -> Domain:
        """Read one domain (name or UUID) from libvirt once and write what changed.

        For reads a request makes (the hardware view): it writes the database only, never
        libvirt -- missing provenance is left to the next full pass. With ``disk_sizes``
        every disk's ``size_bytes`` is filled: pool volumes from one query of the host's
        volumes, other disks from libvirt's block info in the same worker-thread call.
        :class:`NotFoundError` if the domain does not exist.
        """
        domain = await self._read_one(host_id, key, disk_sizes=disk_sizes, missing_ok=False)
        assert domain is not None  # missing_ok=False raised instead
        return domain

    async def reread_domain(self, host_id: str, domain_uuid: str) -> None:
        """Read one domain by UUID once after a change a request made; write the database only.

        A domain that is gone (a transient one destroyed) is marked missing.
        """
        await self._read_one(host_id, domain_uuid, disk_sizes=False, missing_ok=True)

    async def _read_one(
        self, host_id: str, key: str, *, disk_sizes: bool, missing_ok: bool
    ) -> Domain | None:
        host = self._host(host_id)
        sizes = await self.database.run(db_queries.volume_sizes, host_id) if disk_sizes else None
        async with self._lock(host_id):
            self.domains_read += 1
            domain: Domain | None = None
            try:
                domain = await host.get_domain(key, disk_sizes=sizes)
            except NotFoundError:
                if not missing_ok:
                    raise
            if domain is None:
                outcome = await self._store_read(host_id, [], [key], {key: None})
            else:
                outcome = await self._store_read(host_id, [domain], [], {domain.uuid: None})
        if outcome.changed:
            self.hub.publish(VmsChanged(host_id=host_id))
        return domain

    async def _store_read(
        self,
        host_id: str,
        found: Sequence[Domain],
        missing: Sequence[str],
        hints: Mapping[str, str | None],
    ) -> db_sync.SyncOutcome:
        """Write domains re-read one by one (caller holds the host's lock)."""
        clean_hints = {uuid: hint for uuid, hint in hints.items() if hint is not None}
        known = self._domains.get(host_id)
        if known is not None:
            known.update((domain.uuid, domain) for domain in found)
            for uuid in missing:
                known.pop(uuid, None)

        def write(session: DbSession) -> db_sync.SyncOutcome:
            outcome = db_sync.apply_domains(
                session, host_id, found, complete=False, hints=clean_hints
            )
            for uuid in missing:
                gone = db_sync.mark_domain_missing(session, host_id, uuid)
                outcome.vms_changed |= gone.vms_changed
                outcome.discovered_changed |= gone.discovered_changed
            return outcome

        # Only a refresh of that one domain may use a claim: a burst over several
        # domains must not attribute the others' changes to it.
        key = (host_id, next(iter(hints))) if len(hints) == 1 else None
        pending = self._claimed(key) if key is not None else None
        if current_actor.get() is not None:
            pending = None  # the request's own actor
        with acting_as(pending) if pending is not None else nullcontext():
            outcome = await self.database.run_merging(write)
        if key is not None and outcome.vms_changed:
            self._actors.pop(key, None)
        return outcome

    # -- who caused a change that libvirt reports later ---------------------------------

    def expect_change(self, host_id: str, domain_uuid: str | None) -> None:
        """Attribute the next change of a domain (or host state) to the current actor.

        A power action or a (dis)connect is reported back by a pool event, whose handler
        runs in the inventory's own task, not the request's: the entry it writes would
        have no actor. The claim lasts :data:`ACTOR_CLAIM_S` seconds at most.
        """
        actor = current_actor.get()
        key = (host_id, domain_uuid or "")
        if actor is None:
            self._actors.pop(key, None)
            return
        self._actors[key] = (actor, time.monotonic() + ACTOR_CLAIM_S)

    def _claimed(self, key: tuple[str, str]) -> str | None:
        entry = self._actors.get(key)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._actors[key]
            return None
        return entry[0]

    def drop_claim(self, host_id: str, domain_uuid: str | None) -> None:
        """Withdraw :meth:`expect_change` (the action failed: nothing will follow)."""
        self._actors.pop((host_id, domain_uuid or ""), None)

    async def handle_events(self, events: Iterable[PoolEvent]) -> None:
        """Apply a burst of pool events: host states in order, then each domain once."""
        per_host: dict[str, dict[str, str | None]] = {}
        for event in events:
            self.events_handled += 1
            if isinstance(event, HostStateChanged):
                await self._host_state_changed(event)
                continue
            if isinstance(event, DomainMetadataChangeEvent) and (
                event.namespace == METADATA_NAMESPACE
            ):
                continue  # our own provenance write
            hint: str | None = None
            if isinstance(event, DomainLifecycleEvent):
                hint = _lifecycle_hint(event)
            elif isinstance(event, DomainRebootEvent):
                hint = ActivityType.VM_REBOOTED
            hints = per_host.setdefault(event.host_id, {})
            hints[event.domain_uuid] = hints.get(event.domain_uuid) or hint
        for host_id, hints in per_host.items():
            try:
                if len(hints) > FULL_PASS_THRESHOLD:
                    await self.sync_host(host_id)
                else:
                    await self.refresh_domains(host_id, hints)
            except VirtumancerError as exc:
                _log.info("cannot refresh domains of host %s: %s", host_id, exc)

    async def _host_state_changed(self, event: HostStateChanged) -> None:
        host_id = event.host_id
        previous = self._host_states.get(host_id)
        self._host_states[host_id] = event.state
        if event.state in (ConnectionState.DISCONNECTED, ConnectionState.ERROR):
            # Events may be missed while away: the next full pass rebuilds the view.
            self._domains.pop(host_id, None)
        actor: str | None = None
        if event.state in (
            ConnectionState.CONNECTED,
            ConnectionState.DISCONNECTED,
            ConnectionState.ERROR,
        ):
            actor = self._claimed((host_id, ""))
            self._actors.pop((host_id, ""), None)
        if self.on_host_state is not None:
            await self.on_host_state(event, previous, actor)

    async def run_events(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Consume the pool's events until cancelled (started by :class:`Virtumancer`)."""
        async with self.pool.subscribe() as subscription:
            task_status.started()
            await self._consume(subscription)

    async def _consume(self, subscription: EventSubscription) -> None:
        dropped = subscription.dropped
        async for event in subscription:
            burst = [event]
            while (more := subscription.get_nowait()) is not None:
                burst.append(more)
            try:
                await self.handle_events(burst)
            except Exception:  # a database hiccup must not end the event consumer
                _log.exception("event handling failed")
            if subscription.dropped != dropped:
                # Events were lost (a missed reconnect among them, perhaps): resync all.
                _log.warning(
                    "%d pool events dropped: reconciling every connected host",
                    subscription.dropped - dropped,
                )
                dropped = subscription.dropped
                self.missed_event_resyncs += 1
                await self._sync_connected()
                continue
            connected = {
                e.host_id: e.timestamp
                for e in burst
                if isinstance(e, HostStateChanged) and e.state is ConnectionState.CONNECTED
            }
            for host_id, since in connected.items():
                last = self._last_pass.get(host_id)
                if last is None or last < since:  # no pass since it (re)connected
                    await self._sync_quietly(host_id)

    async def _sync_quietly(self, host_id: str) -> None:
        try:
            await self.sync_host(host_id)
        except VirtumancerError as exc:
            _log.info("reconciliation of host %s failed: %s", host_id, exc)
        except Exception:  # keep reconciling the other hosts, and this one next time
            _log.exception("reconciliation of host %s failed", host_id)

    async def _sync_connected(self) -> None:
        for host in self.pool.hosts():
            if host.state is ConnectionState.CONNECTED:
                await self._sync_quietly(host.host_id)

    async def run_reconciliation(self, interval: float) -> None:
        """Reconcile every connected host every ``interval`` seconds until cancelled."""
        while True:
            await anyio.sleep(interval)
            await self._sync_connected()

    # -- import and dismiss --------------------------------------------------------------

    async def _import(self, host: HostPool, domains: Sequence[Domain]) -> list[str]:
        host_id = host.host_id
        imported: list[str] = []
        unmarked: list[Domain] = []
        for start in range(0, len(domains), IMPORT_BATCH):
            batch = domains[start : start + IMPORT_BATCH]
            # the video models are shared by every host: another replica importing
            # another host may insert the same one first
            outcome = await self.database.run_merging(db_sync.import_domains, host_id, batch)
            unmarked.extend(outcome.missing_metadata)
            imported.extend(outcome.imported)
        # After every batch is committed: a crash before this leaves VMs the next pass marks.
        await self._provenance(host, unmarked)
        if domains:
            self.hub.publish(VmsChanged(host_id=host_id))
        return imported

    async def import_vm(self, host_id: str, vm_name: str) -> list[str]:
        """Import one domain by name (:class:`NotFoundError` if the host does not have it)."""
        host = self._host(host_id)
        async with self._lock(host_id):
            domain = await host.get_domain(vm_name)
            return await self._import(host, [domain])

    async def _known_domains(self, host: HostPool) -> list[Domain]:
        known = self._domains.get(host.host_id)
        if known is None or host.state is not ConnectionState.CONNECTED:
            domains = await self._list_domains(host)
            self._domains[host.host_id] = {domain.uuid: domain for domain in domains}
            return domains
        return list(known.values())

    async def import_all(self, host_id: str) -> list[str]:
        """Import every discovered (not dismissed) domain of a host.

        Works from the inventory's view of the host -- the last full pass, kept current by
        events -- so it costs database work only; without a view it lists the host.
        """
        host = self._host(host_id)
        async with self._lock(host_id):
            domains = await self._known_domains(host)
            skip = await self.database.run(db_queries.unimportable_uuids, host_id)
            return await self._import(host, [d for d in domains if d.uuid not in skip])

    async def import_selected(self, host_id: str, domain_uuids: Sequence[str]) -> list[str]:
        """Import the domains with these UUIDs (:class:`NotFoundError` if one is unknown)."""
        if isinstance(domain_uuids, str) or not all(isinstance(u, str) for u in domain_uuids):
            raise InvalidInputError("domain_uuids must be a list of strings", field="domain_uuids")
        host = self._host(host_id)
        wanted = {uuid.lower() for uuid in domain_uuids}
        async with self._lock(host_id):
            domains = [d for d in await self._known_domains(host) if d.uuid.lower() in wanted]
            if len(domains) < len(wanted):  # the view may lag behind: ask libvirt
                domains = [d for d in await host.list_domains() if d.uuid.lower() in wanted]
            unknown = wanted - {d.uuid.lower() for d in domains}
            if unknown:
                raise NotFoundError(
                    f"no domain with UUID {', '.join(sorted(unknown))}", host_id=host_id
                )
            return await self._import(host, domains)

    async def dismiss(self, host_id: str, domain_uuids: Sequence[str]) -> int:
        """Hide discovered VMs while their domains exist."""
        if isinstance(domain_uuids, str) or not all(isinstance(u, str) for u in domain_uuids):
            raise InvalidInputError("domain_uuids must be a list of strings", field="domain_uuids")
        wanted = [uuid.lower() for uuid in domain_uuids]
        count = await self.database.run(lambda s: db_sync.dismiss_discovered(s, host_id, wanted))
        if count:
            self.hub.publish(VmsChanged(host_id=host_id))
        return count
