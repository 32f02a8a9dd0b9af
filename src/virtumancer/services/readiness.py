"""Readiness: may a load balancer send this replica work? (``GET /api/v1/health/ready``).

Liveness (``/api/v1/health``) only says the process answers. Readiness adds what the
replica needs to do its part: a database that answers and, in fleet mode (ADR 0015), a
heartbeat the fleet sees and at least its even share of the hosts (``hosts // live
replicas``). A replica that has just joined is not ready until the others have handed it
its share; one cut off from the database is not ready from the first failed probe on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from virtumancer._logging import get_logger
from virtumancer.models.readiness import Readiness

if TYPE_CHECKING:
    from virtumancer.db.database import Database
    from virtumancer.services.fleet import FleetService
    from virtumancer.services.hosts import HostService

__all__ = ["PING_TIMEOUT", "check_readiness"]

_log = get_logger(__name__)

#: Seconds the database may take to answer a readiness probe (probes time out at 1 s by
#: default in Kubernetes; a slower answer is "not ready" anyway).
PING_TIMEOUT = 5.0


async def check_readiness(
    *,
    database: Database,
    fleet: FleetService,
    hosts: HostService,
) -> Readiness:
    """Return this replica's readiness; never raises for an unreachable database."""
    mode = "fleet" if fleet.enabled else "single"
    try:
        with anyio.fail_after(PING_TIMEOUT):
            await database.ping()
    except Exception as exc:  # any driver error means the same thing here
        # The reason goes to the log only: the probe is public (no token).
        _log.warning("readiness: the database did not answer: %s", _first_line(exc))
        return Readiness(
            ready=False,
            mode=mode,
            missing=["database"],
            detail=[f"the database did not answer ({type(exc).__name__})"],
        )
    if not fleet.enabled:
        return Readiness(ready=True, mode=mode, missing=[], detail=[])
    cluster = await fleet.cluster()
    host_count = len(await hosts.list_hosts())
    me = next((r for r in cluster.replicas if r.id == fleet.replica_id), None)
    live = sum(r.alive for r in cluster.replicas)
    missing: list[str] = []
    detail: list[str] = []
    if me is None or not me.alive:
        live += 1  # this replica counts for the share it is about to take
        missing.append("fleet heartbeat")
        detail.append("the fleet does not see this replica's heartbeat")
    share = host_count // max(live, 1)
    owned = len(fleet.owned)
    if owned < share:
        missing.append("host share")
        detail.append(f"owns {owned} of its share of {share} host(s)")
    return Readiness(
        ready=not missing,
        mode=mode,
        missing=missing,
        detail=detail,
        hosts_owned=owned,
        hosts_share=share,
    )


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends the statement and a link; the driver's first line says why.
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
