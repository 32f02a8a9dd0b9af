"""What ``GET /api/v1/cluster`` returns: the replicas of a fleet and the hosts each owns."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = ["ClusterRecord", "ReplicaRecord"]


@attrs.frozen(kw_only=True)
class ReplicaRecord:
    """One replica: where it listens, when it last beat, which hosts it owns now.

    ``alive`` is whether its heartbeat is younger than the lease time to live.
    """

    id: str
    address: str
    started_at: dt.datetime
    last_heartbeat: dt.datetime
    alive: bool
    hosts: list[str]


@attrs.frozen(kw_only=True)
class ClusterRecord:
    """The fleet as one replica sees it. ``answered_by`` is the id of that replica.

    ``mode`` is ``"fleet"`` on PostgreSQL and ``"single"`` on SQLite (one process, no
    coordination: it owns every host).
    """

    answered_by: str
    mode: str
    replicas: list[ReplicaRecord]
