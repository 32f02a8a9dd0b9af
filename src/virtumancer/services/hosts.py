"""Hosts: add, connect, disconnect, remove, restore on start, and their live state.

:class:`HostService` is the one writer of a host's stored state: the user's lifecycle calls
and the pool's state changes (which the inventory service hands over with who caused them)
both go through it, and each write publishes ``HostsChanged``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import suppress

import anyio
import anyio.abc
import attrs

from virtumancer._logging import get_logger
from virtumancer.db import DbSession
from virtumancer.db import activity as db_activity
from virtumancer.db import hosts as db_hosts
from virtumancer.db.database import Database
from virtumancer.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    VirtumancerError,
)
from virtumancer.models.events import ConnectionState, HostStateChanged
from virtumancer.models.host import HostInfo
from virtumancer.models.notifications import HostsChanged
from virtumancer.models.records import ActivityType, HostRecord
from virtumancer.pool import ConnectionPool
from virtumancer.rules import host_state_activity
from virtumancer.services.inventory import InventoryService
from virtumancer.services.notifications import NotificationHub

__all__ = ["HostService"]

_log = get_logger(__name__)


class HostService:
    """The hosts of a pool and their stored records; see the module docstring.

    ``task_group`` (set by the owner) runs the background connects of :meth:`restore`.
    In fleet mode (:mod:`virtumancer.services.fleet`) this replica holds only the hosts it
    owns (:meth:`adopt`, :meth:`release`); ``owns`` says which, and ``on_added`` takes the
    lease of a host added here in the transaction that stores it.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        database: Database,
        hub: NotificationHub,
        inventory: InventoryService,
    ) -> None:
        self.pool = pool
        self.database = database
        self.hub = hub
        self.inventory = inventory
        self.task_group: anyio.abc.TaskGroup | None = None
        # Saved hosts whose background connect has not started/finished yet.
        self._restoring: set[str] = set()
        self._restore_idle = anyio.Event()
        self.owns: Callable[[str], bool] = lambda _host_id: True
        #: Fleet mode: other replicas own some hosts, so live counts come from the database.
        self.shared = False
        self.on_added: Callable[[DbSession, str], None] | None = None

    def __repr__(self) -> str:
        return f"<HostService {len(self.pool.hosts())} hosts, {len(self._restoring)} restoring>"

    # -- live state ------------------------------------------------------------------------

    def live(self, record: HostRecord) -> HostRecord:
        """Return ``record`` with the pool's live state (a saved host may be restoring)."""
        try:
            host = self.pool.get(record.id)
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

    def connected_count(self) -> int:
        """Return how many hosts are connected now."""
        return sum(h.state is ConnectionState.CONNECTED for h in self.pool.hosts())

    async def list_hosts(self) -> list[HostRecord]:
        """Return every configured host with its live connection state."""
        return [self.live(record) for record in await self.database.run(db_hosts.list_hosts)]

    async def host_info(self, host_id: str) -> HostInfo:
        """Return live node information of a host."""
        return await self.pool.reach(host_id).host_info()

    async def _store_state(self, host_id: str) -> HostRecord:
        host = self.pool.get(host_id)

        def write(session: DbSession) -> HostRecord:
            record, _ = db_hosts.update_host(
                session,
                host_id,
                state=host.state.value,
                last_error=host.last_error,
                auto_reconnect_disabled=host.auto_reconnect_disabled,
            )
            return record

        record = await self.database.run(write)
        self.hub.publish(HostsChanged())
        return self.live(record)

    async def record_state_change(
        self,
        event: HostStateChanged,
        previous: ConnectionState | None,
        actor: str | None,
    ) -> None:
        """Store a state change the pool reported, with the activity entry it earns."""
        host_id = event.host_id
        if not self.owns(host_id):
            return  # released to another replica: its owner writes its state now
        activity = host_state_activity(host_id, previous, event.state, event.error)

        def write(session: DbSession) -> bool:
            try:
                _, changed = db_hosts.update_host(
                    session, host_id, state=event.state.value, last_error=event.error
                )
            except NotFoundError:
                return False  # removed meanwhile
            if activity is not None:
                db_activity.add_activity(
                    session,
                    activity[0],
                    activity[1],
                    host_id=host_id,
                    timestamp=event.timestamp,
                    actor=actor,
                )
                changed = True
            return changed

        if await self.database.run(write):
            self.hub.publish(HostsChanged())

    # -- lifecycle -------------------------------------------------------------------------

    async def add_host(self, host_id: str, uri: str) -> HostRecord:
        """Add a host, connect to it, store it and sync its inventory.

        :class:`ConflictError` if the id exists, :class:`UriPolicyError` for a refused URI,
        :class:`HostUnavailableError` if it cannot connect (nothing is stored then).
        """
        if not isinstance(host_id, str) or not host_id.strip():
            raise InvalidInputError("host id must be a non-empty string", field="id")
        if not isinstance(uri, str) or not uri:
            raise InvalidInputError("uri must be a non-empty string", field="uri")
        if await self.database.run(db_hosts.host_exists, host_id):
            raise ConflictError("a host with this id already exists", host_id=host_id)
        await self.pool.add_host(host_id, uri, connect=True)
        try:

            def write(session: DbSession) -> HostRecord:
                record = db_hosts.insert_host(session, host_id, uri, state="CONNECTED")
                db_activity.add_activity(
                    session, ActivityType.HOST_ADDED, f"Host {host_id} added", host_id=host_id
                )
                if self.on_added is not None:
                    self.on_added(session, host_id)
                return record

            record = await self.database.run(write)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.pool.remove_host(host_id)
            raise
        self.hub.publish(HostsChanged())
        try:
            await self.inventory.sync_host(host_id)
        except VirtumancerError as exc:
            _log.warning("first sync of host %s failed: %s", host_id, exc)
        return self.live(record)

    async def connect_host(self, host_id: str) -> HostRecord:
        """Connect a host now, even one a user disconnected (re-enables auto-reconnect)."""
        await self.database.run(db_hosts.get_host, host_id)
        host = self.pool.get(host_id)
        self.inventory.expect_change(host_id, None)
        try:
            await host.connect()
        finally:
            await self._store_state(host_id)
        await self.inventory.sync_host(host_id)
        return self.live(await self.database.run(db_hosts.get_host, host_id))

    async def disconnect_host(self, host_id: str) -> HostRecord:
        """Disconnect a host and keep it disconnected until :meth:`connect_host`."""
        await self.database.run(db_hosts.get_host, host_id)
        self.inventory.expect_change(host_id, None)
        await self.pool.get(host_id).disconnect()
        return await self._store_state(host_id)

    async def remove_host(self, host_id: str) -> None:
        """Disconnect a host and forget it and its inventory (:class:`NotFoundError`)."""
        await self.database.run(db_hosts.get_host, host_id)

        def write(session: DbSession) -> None:
            db_hosts.delete_host(session, host_id)
            db_activity.add_activity(
                session, ActivityType.HOST_REMOVED, f"Host {host_id} removed", host_id=host_id
            )

        # The database first: if it fails, the host stays both stored and in the pool.
        await self.database.run(write)
        with suppress(NotFoundError):
            await self.pool.remove_host(host_id)
        self.inventory.forget_host(host_id)
        self.hub.publish(HostsChanged())

    # -- restoring the saved hosts on start ------------------------------------------------

    async def restore(self) -> None:
        """Add the saved hosts to the pool; connect (then sync) in the background.

        Adding is quick; connecting is not (a silent host holds an open for the open
        timeout), so it runs in ``task_group`` and startup never waits for it. Hosts a user
        disconnected stay disconnected; the others reconnect on their own.
        """
        await self.adopt(None)

    async def adopt(self, host_ids: Collection[str] | None) -> None:
        """Add these saved hosts (``None``: all) to the pool, as :meth:`restore` does."""
        group = self.task_group
        if group is None:
            raise ConflictError("the host service has no task group (use Virtumancer)")
        for record in await self.database.run(db_hosts.list_hosts):
            if host_ids is not None and record.id not in host_ids:
                continue
            try:
                await self.pool.add_host(
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
                group.start_soon(self._connect_restored, record.id)

    async def release(self, host_id: str) -> None:
        """Drop a host from this replica's pool without touching its stored state.

        Fleet mode: another replica owns it now (or will); ``owns`` already says no, so
        the pool's ``DISCONNECTED`` is not written over the new owner's state.
        """
        self._restoring.discard(host_id)
        with suppress(NotFoundError):
            await self.pool.remove_host(host_id)
        self.inventory.forget_host(host_id)

    async def _connect_restored(self, host_id: str) -> None:
        try:
            host = self.pool.get(host_id)
            await host.connect()  # on failure the pool keeps retrying with backoff
            await self.inventory.sync_host(host_id)
        except VirtumancerError as exc:
            _log.info("host %s not reachable on start: %s", host_id, exc)
        except Exception:  # one bad host must not end the owner's task group
            _log.exception("restoring host %s failed", host_id)
        finally:
            self._restoring.discard(host_id)
            if not self._restoring:
                self._restore_idle.set()
                self._restore_idle = anyio.Event()

    async def wait_restored(self) -> None:
        """Wait until every saved host's startup connect (and first sync) was tried."""
        while self._restoring:
            await self._restore_idle.wait()

    def stop_restoring(self) -> None:
        """Forget pending restores and wake their waiters (the owner is closing)."""
        self._restoring.clear()
        self._restore_idle.set()
        self._restore_idle = anyio.Event()
