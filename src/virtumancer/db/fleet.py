"""The fleet repository (PostgreSQL only): replica heartbeats, host leases, notifications.

Every time is the database's clock (``now()`` in UTC), so the replicas' clocks never take
part in deciding who owns what. Leases are rows claimed with ``FOR UPDATE SKIP LOCKED``
(ADR 0015): two replicas claiming at once never wait for each other and never both win.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Collection

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    delete,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from virtumancer._logging import get_logger
from virtumancer.db.schema import HostLeaseRow, HostRow, ReplicaRow, StatsSubscriptionRow
from virtumancer.models.fleet import ReplicaRecord

__all__ = [
    "CHANNEL",
    "FleetPass",
    "claim_host",
    "fleet_database_url",
    "heartbeat_and_lease",
    "host_uris",
    "libpq_conninfo",
    "list_replicas",
    "listen",
    "notify",
    "release_leases",
    "retire_replica",
    "sync_stats_subscriptions",
]

_log = get_logger(__name__)

#: The LISTEN/NOTIFY channel every replica of one database shares.
CHANNEL = "virtumancer"
#: Seconds the fleet's own statements may take: a renewal that cannot finish in time is a
#: failed renewal (the fencing clock keeps running), not a thread stuck for 30 s.
FLEET_STATEMENT_TIMEOUT_S = 3
#: Replicas silent for this long are forgotten (listed as not alive until then).
FORGET_REPLICA_AFTER = dt.timedelta(minutes=10)


def fleet_database_url(url: str) -> str:
    """Return ``url`` with short connect and statement timeouts for the fleet's own engine."""
    parsed = make_url(url)
    query = dict(parsed.query)
    query.setdefault("connect_timeout", str(FLEET_STATEMENT_TIMEOUT_S))
    query.setdefault("options", f"-c statement_timeout={FLEET_STATEMENT_TIMEOUT_S * 1000}")
    return parsed.set(query=query).render_as_string(hide_password=False)


def libpq_conninfo(url: str) -> str:
    """Return the libpq connection string (``postgresql://...``) of a SQLAlchemy URL."""
    parsed = make_url(url).set(drivername="postgresql")
    query = dict(parsed.query)
    query.setdefault("connect_timeout", str(FLEET_STATEMENT_TIMEOUT_S))
    # A cut network (no RST) must end the listener within seconds, not TCP's hours.
    for key, value in _KEEPALIVES.items():
        query.setdefault(key, value)
    return parsed.set(query=query).render_as_string(hide_password=False)


_KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}


def _now() -> ColumnElement[dt.datetime]:
    # Naive UTC, like every stored time (schema.py), whatever the session's TimeZone.
    return func.timezone("utc", func.now(), type_=DateTime())


def _plus(seconds: float) -> ColumnElement[dt.datetime]:
    return _now() + literal(dt.timedelta(seconds=seconds), Interval())


class FleetPass:
    """What one lease pass found: the hosts this replica holds and the fleet's size."""

    __slots__ = ("held", "hosts", "live_replicas", "loads", "uris")

    def __init__(
        self,
        held: set[str],
        hosts: int,
        live_replicas: int,
        loads: dict[str, int],
        uris: dict[str, str] | None = None,
    ) -> None:
        self.held = held
        self.hosts = hosts
        self.live_replicas = live_replicas
        #: unexpired leases per live replica
        self.loads = loads
        #: every host's URI (a replica reaches hosts it does not own with it)
        self.uris = uris or {}

    def __repr__(self) -> str:
        return f"<FleetPass {len(self.held)}/{self.hosts} hosts, {self.live_replicas} replicas>"


def heartbeat_and_lease(
    session: Session,
    replica_id: str,
    address: str,
    *,
    ttl: float,
    claim: bool,
    release: int = 0,
) -> FleetPass:
    """Beat, renew this replica's leases and claim or release hosts for an even spread.

    One transaction: the heartbeat, the renewal of every lease ``replica_id`` holds, then,
    if ``claim``, free or expired leases up to this replica's share (``ceil(hosts /
    live replicas)``), skipping rows another replica is claiming right now; ``release``
    hands that many of its hosts back (the caller decides when, with hysteresis).
    """
    session.execute(
        pg_insert(ReplicaRow)
        .values(id=replica_id, address=address, started_at=_now(), heartbeat_at=_now())
        .on_conflict_do_update(
            index_elements=[ReplicaRow.id],
            set_={"heartbeat_at": _now(), "address": address},
        )
    )
    held = set(
        session.scalars(
            update(HostLeaseRow)
            .where(HostLeaseRow.owner == replica_id)
            .values(expires_at=_plus(ttl))
            .returning(HostLeaseRow.host_id)
        )
    )
    # Every host has a lease row; new ones start free (expired, no owner).
    session.execute(
        pg_insert(HostLeaseRow)
        .from_select(
            ["host_id", "owner", "expires_at"],
            select(HostRow.id, literal(None, HostLeaseRow.owner.type), _now()),
        )
        .on_conflict_do_nothing(index_elements=[HostLeaseRow.host_id])
    )
    live = list(session.scalars(select(ReplicaRow.id).where(ReplicaRow.heartbeat_at > _plus(-ttl))))
    uris = host_uris(session)
    hosts = len(uris)
    loads = dict.fromkeys(live, 0)
    for owner, count in session.execute(
        select(HostLeaseRow.owner, func.count())
        .where(HostLeaseRow.owner.is_not(None), HostLeaseRow.expires_at > _now())
        .group_by(HostLeaseRow.owner)
    ):
        if owner in loads:
            loads[owner] = count
    share = -(-hosts // max(len(live), 1))
    if claim and len(held) < share:
        free = list(
            session.scalars(
                select(HostLeaseRow.host_id)
                .where((HostLeaseRow.owner.is_(None)) | (HostLeaseRow.expires_at <= _now()))
                .order_by(HostLeaseRow.expires_at, HostLeaseRow.host_id)
                .limit(share - len(held))
                .with_for_update(skip_locked=True)
            )
        )
        if free:
            session.execute(
                update(HostLeaseRow)
                .where(HostLeaseRow.host_id.in_(free))
                .values(owner=replica_id, expires_at=_plus(ttl))
            )
            held.update(free)
    if release > 0 and held:
        given = sorted(held)[-release:]
        release_leases(session, replica_id, given)
        held.difference_update(given)
    loads[replica_id] = len(held)
    session.execute(
        delete(ReplicaRow).where(
            ReplicaRow.heartbeat_at < _now() - literal(FORGET_REPLICA_AFTER, Interval())
        )
    )
    return FleetPass(held, hosts, len(live), loads, uris)


def host_uris(session: Session) -> dict[str, str]:
    """Return every host's URI by id."""
    return {host_id: uri for host_id, uri in session.execute(select(HostRow.id, HostRow.uri))}


def sync_stats_subscriptions(
    session: Session,
    replica_id: str,
    wanted: Collection[tuple[str, str]],
    *,
    ttl: float,
    owned: Collection[str],
) -> set[tuple[str, str]]:
    """Store which VMs' statistics ``replica_id`` wants; return what others want of ``owned``.

    The replica's rows become exactly ``wanted`` (``(host_id, vm_name)``), renewed for
    ``ttl`` seconds; expired rows of any replica (a dead one's) are deleted. Returns the
    VMs of the hosts in ``owned`` some other replica wants now: the owner samples those.
    """
    mine = {(host_id, vm_name) for host_id, vm_name in wanted}
    current = {
        (row.host_id, row.vm_name)
        for row in session.execute(
            select(StatsSubscriptionRow.host_id, StatsSubscriptionRow.vm_name).where(
                StatsSubscriptionRow.replica_id == replica_id
            )
        )
    }
    for host_id, vm_name in current - mine:
        session.execute(
            delete(StatsSubscriptionRow).where(
                StatsSubscriptionRow.replica_id == replica_id,
                StatsSubscriptionRow.host_id == host_id,
                StatsSubscriptionRow.vm_name == vm_name,
            )
        )
    # A host removed meanwhile has no row to refer to: skip it rather than fail.
    known = set(session.scalars(select(HostRow.id).where(HostRow.id.in_({h for h, _ in mine}))))
    rows = [
        {"replica_id": replica_id, "host_id": h, "vm_name": v, "expires_at": _plus(ttl)}
        for h, v in sorted(mine)
        if h in known
    ]
    if rows:
        statement = pg_insert(StatsSubscriptionRow).values(rows)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["replica_id", "host_id", "vm_name"],
                set_={"expires_at": statement.excluded.expires_at},
            )
        )
    session.execute(delete(StatsSubscriptionRow).where(StatsSubscriptionRow.expires_at <= _now()))
    if not owned:
        return set()
    return {
        (row.host_id, row.vm_name)
        for row in session.execute(
            select(StatsSubscriptionRow.host_id, StatsSubscriptionRow.vm_name)
            .where(
                StatsSubscriptionRow.replica_id != replica_id,
                StatsSubscriptionRow.host_id.in_(list(owned)),
                StatsSubscriptionRow.expires_at > _now(),
            )
            .distinct()
        )
    }


def claim_host(session: Session, replica_id: str, host_id: str, *, ttl: float) -> None:
    """Take the lease of a host this replica just added (in the transaction adding it)."""
    session.execute(
        pg_insert(HostLeaseRow)
        .values(host_id=host_id, owner=replica_id, expires_at=_plus(ttl))
        .on_conflict_do_update(
            index_elements=[HostLeaseRow.host_id],
            set_={"owner": replica_id, "expires_at": _plus(ttl)},
        )
    )


def release_leases(session: Session, replica_id: str, host_ids: Collection[str]) -> None:
    """Hand hosts back at once (free for the next claim), if ``replica_id`` still holds them."""
    session.execute(
        update(HostLeaseRow)
        .where(HostLeaseRow.owner == replica_id, HostLeaseRow.host_id.in_(list(host_ids)))
        .values(owner=None, expires_at=_now())
    )


def retire_replica(session: Session, replica_id: str) -> None:
    """Hand every lease of a replica that stops cleanly back and forget the replica.

    Its heartbeat must not count it as live any longer: the others' share grows at once.
    """
    session.execute(
        update(HostLeaseRow)
        .where(HostLeaseRow.owner == replica_id)
        .values(owner=None, expires_at=_now())
    )
    session.execute(delete(ReplicaRow).where(ReplicaRow.id == replica_id))


def list_replicas(session: Session, *, ttl: float) -> list[ReplicaRecord]:
    """Return the known replicas with the hosts each holds an unexpired lease on."""
    owned: dict[str, list[str]] = {}
    for host_id, owner in session.execute(
        select(HostLeaseRow.host_id, HostLeaseRow.owner)
        .where(HostLeaseRow.owner.is_not(None), HostLeaseRow.expires_at > _now())
        .order_by(HostLeaseRow.host_id)
    ):
        if owner is not None:
            owned.setdefault(owner, []).append(host_id)
    now = session.scalar(select(_now()))
    assert now is not None
    limit = now - dt.timedelta(seconds=ttl)
    return [
        ReplicaRecord(
            id=row.id,
            address=row.address,
            started_at=row.started_at.replace(tzinfo=dt.UTC),
            last_heartbeat=row.heartbeat_at.replace(tzinfo=dt.UTC),
            alive=row.heartbeat_at > limit,
            hosts=owned.get(row.id, []),
        )
        for row in session.scalars(select(ReplicaRow).order_by(ReplicaRow.id))
    ]


def notify(session: Session, payloads: Collection[str]) -> None:
    """Send each payload on :data:`CHANNEL` (delivered when the transaction commits)."""
    for payload in payloads:
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {
                "channel": CHANNEL,
                "payload": payload,
            },
        )


async def listen(
    url: str, *, on_listening: Callable[[], Awaitable[None]] | None = None
) -> AsyncIterator[str]:
    """Yield the payloads sent on :data:`CHANNEL` (psycopg's async API: the loop never blocks).

    ``on_listening`` is awaited once ``LISTEN`` is in place (whatever was sent before is
    lost: re-read). Ends with an exception when the connection is lost; the caller
    reconnects.
    """
    import psycopg

    async with await psycopg.AsyncConnection.connect(
        libpq_conninfo(url), autocommit=True
    ) as connection:
        await connection.execute(f"LISTEN {CHANNEL}")
        if on_listening is not None:
            await on_listening()
        async for note in connection.notifies():
            yield note.payload
