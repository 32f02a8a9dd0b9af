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
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import socket
import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from virtumancer.db import DbSession
from virtumancer.db import fleet as db_fleet
from virtumancer.db.database import Database
from virtumancer.models.fleet import ClusterRecord, ReplicaRecord
from virtumancer.models.notifications import HostsChanged, Notification, VmsChanged
from virtumancer.services.notifications import NotificationHub

if TYPE_CHECKING:
    from virtumancer.services.hosts import HostService
    from virtumancer.services.settings import SettingsService

__all__ = ["FleetService", "generate_replica_id"]

_log = logging.getLogger(__name__)

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
        self.hub.forward = self._queue
        self.settings.on_change = lambda: self._queue_payload({"k": "settings"})
        await self._lease_pass()  # the first share is taken before the server says it is up
        group.start_soon(self._lease_loop)
        group.start_soon(self._watchdog)
        group.start_soon(self._send_loop)
        await group.start(self._listen_loop)
        return True

    async def aclose(self) -> None:
        """Hand every lease back (a clean stop: the others take over at once)."""
        fleet_db = self._fleet_db
        if fleet_db is None:
            return
        self._fleet_db = None
        self.owned = set()
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
        outcome = await fleet_db.run(
            lambda session: db_fleet.heartbeat_and_lease(
                session,
                self.replica_id,
                self.address,
                ttl=self.lease_ttl,
                claim=True,
                release=release,
            )
        )
        # Renewed: the leases now run until (database) now + ttl, and "now" was no earlier
        # than ``started`` -- so giving up at started + give_up_after is always in time.
        self._last_renewed = started
        self._last_pass = outcome
        if release:
            self._under_share_passes = 0
        lost = self.owned - outcome.held
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
                for host_id in owned:
                    await self.hosts.release(host_id)

    # -- notifications -----------------------------------------------------------------

    def _queue(self, notification: Notification) -> None:
        if isinstance(notification, VmsChanged):
            self._queue_payload({"k": "vms", "h": notification.host_id})
        else:
            self._queue_payload({"k": "hosts"})

    def _queue_payload(self, payload: dict[str, str]) -> None:
        # Ids only: NOTIFY payloads are capped at 8,000 bytes, host ids at 255 characters.
        self._outbox[json.dumps({**self._sent_by, **payload}, separators=(",", ":"))] = None
        self._outbox_ready.set()

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
            self.hub.publish_remote(HostsChanged())
        elif kind == "settings":
            await self.settings.reload()

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
