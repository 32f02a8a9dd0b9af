"""Fleet mode: many replicas on one PostgreSQL, each host owned by one of them (ADR 0015).

On SQLite :class:`FleetService` does nothing: one process owns every host, as always. On
PostgreSQL it runs three loops in the owner's task group:

- the lease pass (every ``tick`` seconds): heartbeat, renew this replica's leases every
  ``renew_interval``, claim free or expired ones up to an even share, hand surplus back when
  another replica has been under its share for a while (hysteresis); newly held hosts are
  adopted (connected, synced), lost ones released from the pool;
- the fencing watchdog: when no renewal has succeeded for ``give_up_after`` seconds (less
  than the lease time to live) every host is released locally, so this replica stops syncing
  before its leases could expire and another replica takes them;
- notifications: what the local hub publishes goes out with ``NOTIFY`` (ids, never bodies);
  what other replicas notify is re-published on the local hub (``LISTEN`` on psycopg's async
  connection, so the event loop never blocks).

Any replica acts on any host: one it does not own is reached through an action-only
connection of the pool (:meth:`~virtumancer.pool.ConnectionPool.reach`, with the URIs read on
each lease pass); the owner's events carry the change into its sync. Live statistics are
sampled by a host's owner only: the VMs subscribed on other replicas are stored (renewed with
the leases, so a dead replica's expire) and the owner sends their updates with ``NOTIFY``,
split into parts when one would exceed the payload limit. Task updates travel the same way
(a task lives in the memory of the replica running it), so every replica can show them.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import socket
import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from virtumancer._logging import get_logger
from virtumancer.converters import make_converter
from virtumancer.db import DbSession
from virtumancer.db import fleet as db_fleet
from virtumancer.db.database import Database
from virtumancer.exceptions import VirtumancerError
from virtumancer.models.fleet import ClusterRecord, ReplicaRecord
from virtumancer.models.notifications import HostsChanged, Notification, TaskUpdated, VmsChanged
from virtumancer.models.tasks import Task
from virtumancer.services.notifications import NotificationHub
from virtumancer.services.stats import StatsSampler, StatsSubscription, StatsUpdate

if TYPE_CHECKING:
    from virtumancer.services.hosts import HostService
    from virtumancer.services.settings import SettingsService
    from virtumancer.tasks import TaskRegistry

__all__ = ["FleetService", "generate_replica_id"]

_log = get_logger(__name__)

#: Seconds a lease lives after its last renewal (database clock).
LEASE_TTL = 10.0
#: Seconds between renewals.
RENEW_INTERVAL = 3.0
#: Seconds without a successful renewal after which this replica stops acting as owner.
GIVE_UP_AFTER = 7.0
#: Seconds between lease passes (claims of expired leases happen this often).
TICK = 1.0
#: Passes another replica must stay under its share before this one hands hosts back.
REBALANCE_PATIENCE = 3
#: Longest ``NOTIFY`` payload sent whole (PostgreSQL's limit is 8,000 bytes; payloads are
#: ASCII JSON, so characters are bytes).
NOTIFY_LIMIT = 7900
#: Characters of a longer payload per part (escaped inside the part's JSON: at most double).
PART_SIZE = 3500
#: Payloads being reassembled at most (parts of a lost batch never complete).
MAX_PARTIAL = 64

_converter = make_converter()


def generate_replica_id() -> str:
    """Return a fresh replica id: the host name and a random suffix."""
    return f"{socket.gethostname()[:40]}-{secrets.token_hex(4)}"


class FleetService:
    """Replica identity, host leases and cross-replica notifications; see the module doc."""

    def __init__(
        self,
        *,
        database: Database,
        database_url: str | None,
        hosts: HostService,
        hub: NotificationHub,
        settings: SettingsService,
        replica_id: str | None = None,
        address: str = "",
        lease_ttl: float = LEASE_TTL,
        renew_interval: float = RENEW_INTERVAL,
        give_up_after: float = GIVE_UP_AFTER,
        tick: float = TICK,
    ) -> None:
        self.replica_id = replica_id or generate_replica_id()
        self.address = address
        self.database = database
        self.hosts = hosts
        self.hub = hub
        self.settings = settings
        self.enabled = database.dialect == "postgresql"
        self.lease_ttl = lease_ttl
        self.renew_interval = renew_interval
        self.give_up_after = give_up_after
        self.tick = tick
        self.started_at = dt.datetime.now(dt.UTC)
        self._url = database_url
        # The fleet's own engine: short timeouts, and never queued behind request threads.
        self._fleet_db: Database | None = None
        #: Hosts this replica acts as owner of now.
        self.owned: set[str] = set()
        self._last_renewed = -1e9
        self._last_pass: db_fleet.FleetPass | None = None
        self._under_share_passes = 0
        self._outbox: dict[str, None] = {}
        self._outbox_ready = anyio.Event()
        self._sent_by = {"r": self.replica_id}
        #: Remote notifications re-published here (for tests and benchmarks).
        self.remote_notifications = 0
        #: Every host's URI (from the lease passes): how hosts owned elsewhere are reached.
        self.uris: dict[str, str] = {}
        #: The live statistics sampler and the task registry (set by the owner).
        self.stats: StatsSampler | None = None
        self.tasks: TaskRegistry | None = None
        # VMs of owned hosts other replicas want statistics of: sampled and sent.
        self._relays: dict[tuple[str, str], StatsSubscription] = {}
        self._refresh = anyio.Event()
        self._partial: dict[str, list[str | None]] = {}
        self._told: set[tuple[str, str]] | None = None  # the subscriptions others know of
        #: Stats updates sent to / received from other replicas (for tests and benchmarks).
        self.stats_sent = 0
        self.stats_received = 0

    def __repr__(self) -> str:
        mode = "fleet" if self.enabled else "single"
        return f"<FleetService {self.replica_id} {mode} owns {len(self.owned)}>"

    # -- wiring ------------------------------------------------------------------------

    def owns(self, host_id: str) -> bool:
        """Return whether this replica acts as the owner of ``host_id``."""
        return not self.enabled or host_id in self.owned

    def _claim_added(self, session: DbSession, host_id: str) -> None:
        db_fleet.claim_host(session, self.replica_id, host_id, ttl=self.lease_ttl)
        self.owned.add(host_id)

    async def start(self, group: anyio.abc.TaskGroup) -> bool:
        """Start the fleet's loops in ``group``; return ``False`` on SQLite (nothing to do)."""
        if not self.enabled or self._url is None:
            self.enabled = False
            return False
        self._fleet_db = Database(db_fleet.fleet_database_url(self._url), max_threads=2)
        self.hosts.owns = self.owns
        self.hosts.shared = True
        self.hosts.on_added = self._claim_added
        self.hosts.pool.lender = self.uris.get
        self.hub.forward = self._queue
        self.settings.on_change = lambda: self._queue_payload({"k": "settings"})
        if self.stats is not None:
            self.stats.owns = self.owns
            self.stats.check_remote = self._check_remote_vm
            self.stats.on_remote_change = self._refresh.set
        await self._lease_pass()  # the first share is taken before the server says it is up
        group.start_soon(self._lease_loop)
        group.start_soon(self._watchdog)
        group.start_soon(self._send_loop)
        group.start_soon(self._refresh_loop)
        await group.start(self._listen_loop)
        return True

    async def aclose(self) -> None:
        """Hand every lease back (a clean stop: the others take over at once)."""
        fleet_db = self._fleet_db
        if fleet_db is None:
            return
        self._fleet_db = None
        self.owned = set()
        self._close_relays()
        with anyio.move_on_after(3, shield=True):
            try:
                await fleet_db.run(db_fleet.retire_replica, self.replica_id)
            except Exception as exc:  # the database may be what is gone
                _log.info("could not hand leases back: %s", exc)
            await fleet_db.aclose()

    # -- leases ------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        while True:
            await anyio.sleep(self.tick)
            try:
                await self._lease_pass()
            except Exception as exc:  # a database hiccup: the watchdog fences if it lasts
                _log.warning("lease pass of replica %s failed: %s", self.replica_id, exc)

    async def _lease_pass(self) -> None:
        fleet_db = self._fleet_db
        if fleet_db is None:
            return
        started = time.monotonic()
        release = self._surplus()
        # A host added here while the pass runs is claimed (and owned) after the pass read
        # its snapshot: judge only what was owned when the pass began, or a fresh add would
        # look lost, be released and come back on the next pass.
        owned_before = set(self.owned)
        wanted = self.stats.remote_subscriptions() if self.stats is not None else set()

        def lease(session: DbSession) -> tuple[db_fleet.FleetPass, set[tuple[str, str]]]:
            outcome = db_fleet.heartbeat_and_lease(
                session,
                self.replica_id,
                self.address,
                ttl=self.lease_ttl,
                claim=True,
                release=release,
            )
            others = db_fleet.sync_stats_subscriptions(
                session, self.replica_id, wanted, ttl=self.lease_ttl, owned=outcome.held
            )
            return outcome, others

        outcome, others = await fleet_db.run(lease)
        self.uris.clear()
        self.uris.update(outcome.uris)
        # Renewed: the leases now run until (database) now + ttl, and "now" was no earlier
        # than ``started`` -- so giving up at started + give_up_after is always in time.
        self._last_renewed = started
        self._last_pass = outcome
        if release:
            self._under_share_passes = 0
        lost = (owned_before & self.owned) - outcome.held
        gained = outcome.held - self.owned
        for host_id in sorted(lost):
            _log.info("replica %s no longer owns host %s", self.replica_id, host_id)
            self.owned.discard(host_id)
            await self.hosts.release(host_id)
        if gained:
            _log.info("replica %s owns host(s) %s", self.replica_id, ", ".join(sorted(gained)))
            self.owned.update(gained)
            await self.hosts.adopt(gained)
        if lost or gained:
            self._queue(HostsChanged())
            if self.stats is not None:
                self.stats.rehome()
        await self._relay(others)

    def _surplus(self) -> int:
        """How many hosts to hand back now: only after another replica stayed under its
        share for :data:`REBALANCE_PATIENCE` passes, and never below our own share."""
        outcome = self._last_pass
        if outcome is None or outcome.live_replicas < 2:
            return 0
        share = -(-outcome.hosts // outcome.live_replicas)
        floor = outcome.hosts // outcome.live_replicas
        starving = any(
            load < floor for rid, load in outcome.loads.items() if rid != self.replica_id
        )
        if len(self.owned) > share and starving:
            self._under_share_passes += 1
        else:
            self._under_share_passes = 0
        if self._under_share_passes < REBALANCE_PATIENCE:
            return 0
        return len(self.owned) - share

    async def _watchdog(self) -> None:
        while True:
            await anyio.sleep(0.25)
            if self.owned and time.monotonic() - self._last_renewed > self.give_up_after:
                _log.warning(
                    "replica %s could not renew its leases for %.0f s: releasing %d host(s)",
                    self.replica_id,
                    self.give_up_after,
                    len(self.owned),
                )
                owned, self.owned = sorted(self.owned), set()
                self._close_relays()
                if self.stats is not None:
                    self.stats.rehome()
                for host_id in owned:
                    await self.hosts.release(host_id)

    # -- notifications -----------------------------------------------------------------

    def _queue(self, notification: Notification) -> None:
        if isinstance(notification, VmsChanged):
            self._queue_payload({"k": "vms", "h": notification.host_id})
        elif isinstance(notification, TaskUpdated):
            self._queue_task(notification.task_id)
        else:
            self._queue_payload({"k": "hosts"})

    def _queue_payload(self, payload: dict[str, object]) -> None:
        # Ids where there are ids: NOTIFY payloads are capped at 8,000 bytes. What has no
        # id to re-read by (a stats sample, a task living in one replica's memory) is sent
        # whole, in parts when it is longer than that.
        body = json.dumps({**self._sent_by, **payload}, separators=(",", ":"))
        if len(body) <= NOTIFY_LIMIT:
            self._outbox[body] = None
        else:
            ident = secrets.token_hex(6)
            parts = [body[i : i + PART_SIZE] for i in range(0, len(body), PART_SIZE)]
            for n, part in enumerate(parts):
                piece = {**self._sent_by, "k": "part", "i": ident, "n": n, "of": len(parts)}
                self._outbox[json.dumps({**piece, "p": part}, separators=(",", ":"))] = None
        self._outbox_ready.set()

    def _queue_task(self, task_id: str) -> None:
        if self.tasks is None:
            return
        try:
            task = self.tasks.get(task_id)
        except VirtumancerError:
            return
        self._queue_payload({"k": "task", "t": _converter.unstructure(task)})

    def _send_stats(self, update: StatsUpdate) -> None:
        self.stats_sent += 1
        self._queue_payload({"k": "stats", "s": _converter.unstructure(update)})

    async def _send_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready = anyio.Event()
            payloads, self._outbox = list(self._outbox), {}
            fleet_db = self._fleet_db
            if fleet_db is None or not payloads:
                continue
            try:
                await fleet_db.run(db_fleet.notify, payloads)
            except Exception as exc:  # the others re-read on their next reconnect anyway
                _log.warning("could not notify the other replicas: %s", exc)

    async def _listen_loop(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        assert self._url is not None
        started = False

        async def listening() -> None:
            nonlocal started
            await self._listening()
            if not started:
                started = True
                task_status.started()

        delay = 0.5
        while True:
            try:
                async for payload in db_fleet.listen(self._url, on_listening=listening):
                    delay = 0.5
                    await self._receive(payload)
            except Exception as exc:
                _log.warning("listening for other replicas failed: %s", exc)
            if not started:  # start up without it; it keeps trying
                started = True
                task_status.started()
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _listening(self) -> None:
        # (Re)connected: whatever was notified while away is lost, so re-read everything.
        self._refresh.set()
        self.hub.publish_remote(HostsChanged())
        for host in await self.hosts.list_hosts():
            self.hub.publish_remote(VmsChanged(host_id=host.id))
        await self.settings.reload()

    async def _receive(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            sender, kind = message["r"], message["k"]
        except (ValueError, KeyError, TypeError):
            _log.debug("ignored a notification: %r", payload[:200])
            return
        if sender == self.replica_id:
            return
        self.remote_notifications += 1
        if kind == "vms" and isinstance(message.get("h"), str):
            self.hub.publish_remote(VmsChanged(host_id=message["h"]))
        elif kind == "hosts":
            self._refresh.set()  # a host may have been added: learn its URI
            self.hub.publish_remote(HostsChanged())
        elif kind == "settings":
            await self.settings.reload()
        elif kind == "subs":
            self._refresh.set()
        elif kind == "part":
            whole = self._reassemble(message)
            if whole is not None:
                await self._receive(whole)
        elif kind in ("stats", "task"):
            try:
                self._deliver(kind, message)
            except Exception as exc:  # a malformed or newer payload: skip it
                _log.debug("ignored a %s notification: %s", kind, exc)

    def _deliver(self, kind: str, message: dict[str, object]) -> None:
        if kind == "stats" and self.stats is not None:
            self.stats_received += 1
            self.stats.deliver_remote(_converter.structure(message["s"], StatsUpdate))
        elif kind == "task" and self.tasks is not None:
            self.tasks.remember(_converter.structure(message["t"], Task))

    def _reassemble(self, message: dict[str, object]) -> str | None:
        ident, n, of, part = message.get("i"), message.get("n"), message.get("of"), message.get("p")
        if not (
            isinstance(ident, str)
            and isinstance(n, int)
            and isinstance(of, int)
            and isinstance(part, str)
            and 0 <= n < of <= 1000
        ):
            return None
        key = f"{message['r']}/{ident}"
        parts = self._partial.get(key)
        if parts is None:
            while len(self._partial) >= MAX_PARTIAL:  # incomplete ones of a lost batch
                del self._partial[next(iter(self._partial))]
            parts = self._partial[key] = [None] * of
        if len(parts) != of:
            return None
        parts[n] = part
        if any(piece is None for piece in parts):
            return None
        del self._partial[key]
        return "".join(piece for piece in parts if piece is not None)

    # -- statistics across replicas ----------------------------------------------------

    async def _check_remote_vm(self, host_id: str, vm_name: str) -> None:
        # The same answer as the owner would give (NotFoundError for an unknown host or
        # VM), through a borrowed connection.
        await self.hosts.pool.reach(host_id).get_domain(vm_name)

    async def _refresh_loop(self) -> None:
        """Store this replica's stats subscriptions and relay others' at once on a change
        (the lease pass does the same every tick; this makes a new subscription prompt)."""
        while True:
            await self._refresh.wait()
            self._refresh = anyio.Event()
            fleet_db = self._fleet_db
            if fleet_db is None or self.stats is None:
                continue
            wanted = self.stats.remote_subscriptions()
            try:
                uris, others = await fleet_db.run(
                    self._store_subscriptions, wanted, set(self.owned)
                )
            except Exception as exc:  # the next lease pass stores them
                _log.info("could not store the stats subscriptions: %s", exc)
                continue
            self.uris.clear()
            self.uris.update(uris)
            await self._relay(others)
            if wanted != self._told:
                self._told = wanted
                self._queue_payload({"k": "subs"})

    def _store_subscriptions(
        self, session: DbSession, wanted: set[tuple[str, str]], owned: set[str]
    ) -> tuple[dict[str, str], set[tuple[str, str]]]:
        others = db_fleet.sync_stats_subscriptions(
            session, self.replica_id, wanted, ttl=self.lease_ttl, owned=owned
        )
        return db_fleet.host_uris(session), others

    async def _relay(self, others: set[tuple[str, str]]) -> None:
        """Sample (and send) what other replicas want of the owned hosts, and no more."""
        stats = self.stats
        if stats is None:
            return
        for key in [k for k in self._relays if k not in others or not self.owns(k[0])]:
            self._relays.pop(key).close()
        for host_id, vm_name in sorted(others - set(self._relays)):
            if not self.owns(host_id):
                continue
            try:
                relay = await stats.subscribe(host_id, vm_name, self._send_stats)
            except VirtumancerError as exc:  # connecting, or the VM is gone: next pass
                _log.debug("cannot sample %s/%s for others: %s", host_id, vm_name, exc)
                continue
            if (host_id, vm_name) in self._relays or not self.owns(host_id):
                relay.close()
            else:
                self._relays[(host_id, vm_name)] = relay

    def _close_relays(self) -> None:
        relays, self._relays = self._relays, {}
        for relay in relays.values():
            relay.close()

    # -- the cluster view --------------------------------------------------------------

    async def cluster(self) -> ClusterRecord:
        """Return the replicas and the hosts each owns (on SQLite: this process, all hosts)."""
        if not self.enabled:
            hosts = await self.hosts.list_hosts()
            now = dt.datetime.now(dt.UTC)
            me = ReplicaRecord(
                id=self.replica_id,
                address=self.address,
                started_at=self.started_at,
                last_heartbeat=now,
                alive=True,
                hosts=[host.id for host in hosts],
            )
            return ClusterRecord(answered_by=self.replica_id, mode="single", replicas=[me])
        ttl = self.lease_ttl
        replicas = await self.database.run(lambda session: db_fleet.list_replicas(session, ttl=ttl))
        return ClusterRecord(answered_by=self.replica_id, mode="fleet", replicas=replicas)
