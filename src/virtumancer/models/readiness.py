"""What ``GET /api/v1/health/ready`` returns: whether this replica can do its share of work."""

from __future__ import annotations

import attrs

__all__ = ["Readiness"]


@attrs.frozen(kw_only=True)
class Readiness:
    """Whether this process is ready, and if not, what is missing.

    ``missing`` names each unmet condition (``"database"``: the database did not answer;
    ``"fleet heartbeat"``: the fleet does not see this replica alive; ``"host share"``: it
    owns fewer hosts than its even share), ``detail`` says why in words. ``mode`` is
    ``"fleet"`` on PostgreSQL, ``"single"`` on SQLite. ``hosts_owned`` and ``hosts_share``
    (the fewest hosts this replica should own: hosts // live replicas) are ``None`` when the
    database did not answer.
    """

    ready: bool
    mode: str
    missing: list[str]
    detail: list[str]
    hosts_owned: int | None = None
    hosts_share: int | None = None
