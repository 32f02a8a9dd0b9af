"""API tokens: roles, the stored token (never its secret), and who is acting right now.

A token's secret is ``vmt_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored:
a fast hash is right here because the secret is high-entropy random data (nothing to guess
from a dictionary, so a slow password hash would only cost every request time).

:data:`current_actor` names who makes the changes of the running task (a token's name,
``"bootstrap"`` for the server's ``--token``, ``"cli"``); the activity feed records it. The
server sets it per request (:func:`acting_as`); scripts may set it too. It is a context
variable, so it follows the request into worker threads (anyio copies the context) and tasks
it starts, and never leaks into another request.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

import attrs

from virtumancer.exceptions import InvalidInputError

__all__ = [
    "BOOTSTRAP_ACTOR",
    "TOKEN_NAME_PATTERN",
    "TOKEN_PREFIX",
    "ApiToken",
    "CreatedToken",
    "Role",
    "acting_as",
    "check_token_name",
    "current_actor",
    "generate_token_secret",
    "hash_token_secret",
    "parse_duration",
    "parse_expiry",
]

TOKEN_PREFIX: Final = "vmt_"  # noqa: S105 (a prefix, not a secret)
#: Token names: a letter or digit, then letters, digits, ``.``, ``_``, ``-``; 64 at most.
TOKEN_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The actor recorded for the server's own ``--token``.
BOOTSTRAP_ACTOR: Final = "bootstrap"

current_actor: ContextVar[str | None] = ContextVar("virtumancer_actor", default=None)


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Record ``actor`` as the author of the activity written inside the ``with`` block."""
    reset = current_actor.set(actor)
    try:
        yield
    finally:
        current_actor.reset(reset)


class Role(enum.StrEnum):
    """What a token may do; each role includes the ones before it.

    ``viewer`` reads (GET, live stats), ``operator`` also acts on VMs (power, consoles,
    imports), ``admin`` also manages hosts, settings and tokens.
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Order of the roles: viewer < operator < admin."""
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        """Return whether this role may do what ``required`` may."""
        return self.rank >= required.rank

    @classmethod
    def parse(cls, value: object, *, field: str = "role") -> Role:
        """Return the role named ``value`` (:class:`InvalidInputError` naming ``field``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        names = ", ".join(role.value for role in cls)
        raise InvalidInputError(
            f"{field} must be one of {names}; got {str(value)[:40]!r}", field=field
        )


_RANK: Final = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def check_token_name(name: object) -> str:
    """Return ``name`` if it is a valid token name (:class:`InvalidInputError` otherwise)."""
    if not isinstance(name, str) or TOKEN_NAME_PATTERN.fullmatch(name) is None:
        raise InvalidInputError(
            "name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field="name",
        )
    return name


def generate_token_secret() -> str:
    """Return a new token secret (``vmt_`` + 43 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token_secret(secret: str) -> str:
    """Return the hex SHA-256 of ``secret``: what the database stores and looks up."""
    return hashlib.sha256(secret.encode()).hexdigest()


@attrs.frozen(kw_only=True)
class ApiToken:
    """A stored API token (never its secret). Listed by ``GET /api/v1/tokens``."""

    id: str
    name: str
    role: Role
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    def is_valid(self, now: dt.datetime) -> bool:
        """Return whether the token authenticates at ``now`` (not revoked, not expired)."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@attrs.frozen(kw_only=True)
class CreatedToken:
    """A token just created, with its secret: the only time the secret is shown."""

    id: str
    name: str
    role: Role
    created_at: dt.datetime
    expires_at: dt.datetime | None
    secret: str = attrs.field(repr=False)


_DURATION = re.compile(r"(\d{1,6})([smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_expiry(value: object, *, now: dt.datetime, field: str = "expires_at") -> dt.datetime:
    """Return the ISO 8601 time ``value`` as aware UTC; it must lie after ``now``.

    A time without a zone is taken as UTC. :class:`InvalidInputError` naming ``field``.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"{field} must be an ISO 8601 time such as 2030-01-31T12:00:00Z", field=field
            ) from None
    else:
        raise InvalidInputError(f"{field} must be an ISO 8601 time string or null", field=field)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    parsed = parsed.astimezone(dt.UTC)
    if parsed <= now:
        raise InvalidInputError(f"{field} must be in the future", field=field)
    return parsed


def parse_duration(value: str, *, field: str = "expires_in") -> dt.timedelta:
    """Return the duration ``30d``/``12h``/``90m``/``2w``/``45s`` (:class:`InvalidInputError`)."""
    match = _DURATION.fullmatch(value.strip())
    if match is None or int(match[1]) == 0:
        raise InvalidInputError(
            f"{field} must be a positive number with a unit s, m, h, d or w (e.g. 30d)",
            field=field,
        )
    return dt.timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
