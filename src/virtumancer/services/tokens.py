"""API tokens: create, list, revoke, and verify a presented secret (briefly cached).

Verification is on every API request, so it must cost next to nothing: a verified (or
unknown) secret's lookup is cached for :data:`CACHE_TTL_S` seconds by its hash, and a revoke
through this service empties the cache at once. A revoke made by another process (the
``virtumancer token revoke`` command next to a running server) takes effect within the TTL.
Expiry is checked on every call, cached or not.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

from virtumancer.db import DbSession
from virtumancer.db import activity as db_activity
from virtumancer.db import tokens as db_tokens
from virtumancer.db.database import Database
from virtumancer.exceptions import NotFoundError
from virtumancer.models.records import ActivityType
from virtumancer.models.tokens import (
    TOKEN_PREFIX,
    ApiToken,
    CreatedToken,
    Role,
    check_token_name,
    generate_token_secret,
    hash_token_secret,
    parse_expiry,
)

__all__ = ["CACHE_TTL_S", "TokenService"]

#: Seconds a lookup of a presented secret is reused.
CACHE_TTL_S: Final = 5.0
#: Cached lookups at most (unknown secrets are cached too; a flood only refills the cache).
CACHE_LIMIT: Final = 4096


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TokenService:
    """Create, list, revoke and verify API tokens stored (hashed) in ``database``."""

    def __init__(
        self,
        database: Database,
        *,
        cache_ttl: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._ttl = cache_ttl
        self._clock = clock
        # token hash or "id:<id>" -> (token or None if unknown, monotonic expiry of the entry)
        self._cache: dict[str, tuple[ApiToken | None, float]] = {}
        # Bumped by every revoke: a lookup that raced a revoke is not cached.
        self._generation = 0
        #: database lookups made by :meth:`authenticate` (for tests and benchmarks)
        self.lookups = 0

    def __repr__(self) -> str:
        return f"<TokenService cached: {len(self._cache)}, lookups: {self.lookups}>"

    @classmethod
    @asynccontextmanager
    async def open(cls, database_url: str | None = None) -> AsyncIterator[TokenService]:
        """Open the database at ``database_url`` (migrated) for token work only.

        For the command line and scripts: no connection pool, no hosts are contacted.
        """
        database = Database(database_url)
        try:
            await database.migrate()
            yield cls(database)
        finally:
            await database.aclose()

    async def create(
        self, name: str, role: Role | str, *, expires_at: dt.datetime | str | None = None
    ) -> CreatedToken:
        """Create a token and return it with its secret (shown this once, never stored).

        :class:`InvalidInputError` for a bad ``name``/``role``/``expires_at`` (naming the
        field), :class:`ConflictError` if the name is taken.
        """
        check_token_name(name)
        checked_role = Role.parse(role)
        now = _utcnow()
        expiry = None if expires_at is None else parse_expiry(expires_at, now=now)
        secret = generate_token_secret()
        token_id = secrets.token_hex(8)

        def write(session: DbSession) -> ApiToken:
            token = db_tokens.insert_token(
                session,
                token_id=token_id,
                name=name,
                role=checked_role,
                token_hash=hash_token_secret(secret),
                expires_at=expiry,
            )
            db_activity.add_activity(
                session, ActivityType.TOKEN_CREATED, f"Token {name} ({checked_role}) created"
            )
            return token

        token = await self._db.run(write)
        return CreatedToken(
            id=token.id,
            name=token.name,
            role=token.role,
            created_at=token.created_at,
            expires_at=token.expires_at,
            secret=secret,
        )

    async def list(self) -> list[ApiToken]:
        """Return every token (revoked ones too), oldest first; never a secret."""
        return await self._db.run(db_tokens.list_tokens)

    async def get(self, id_or_name: str, *, by_name: bool = True) -> ApiToken:
        """Return the token with this id (or name, with ``by_name``); :class:`NotFoundError`."""
        return await self._db.run(db_tokens.find_token, id_or_name, by_name)

    async def revoke(self, id_or_name: str, *, by_name: bool = True) -> ApiToken:
        """Revoke a token by id (or name, with ``by_name``); it stops working at once here.

        :class:`NotFoundError` for an unknown token. Revoking twice is harmless.
        """

        def write(session: DbSession) -> ApiToken:
            found = db_tokens.find_token(session, id_or_name, by_name)
            if found.revoked_at is not None:
                return found
            token = db_tokens.revoke_token(session, found.id)
            db_activity.add_activity(
                session, ActivityType.TOKEN_REVOKED, f"Token {token.name} revoked"
            )
            return token

        try:
            return await self._db.run(write)
        finally:
            self.clear_cache()

    def clear_cache(self) -> None:
        """Forget every cached lookup (the next request of each token reads the database)."""
        self._generation += 1
        self._cache.clear()

    async def authenticate(self, secret: str) -> ApiToken | None:
        """Return the valid token whose secret is ``secret``, else ``None``.

        ``None`` for an unknown, revoked or expired token. Runs the lookup in a worker
        thread on a cache miss only.
        """
        if not secret.startswith(TOKEN_PREFIX):
            return None  # not one of ours: no hash, no lookup
        digest = hash_token_secret(secret)
        return await self._cached(
            digest, lambda: self._db.run(db_tokens.token_by_hash, digest, _utcnow())
        )

    async def authenticate_id(self, token_id: str) -> ApiToken | None:
        """Return the valid token with this id, else ``None`` (a session cookie's subject)."""

        async def load() -> ApiToken | None:
            try:
                return await self._db.run(db_tokens.find_token, token_id, False)
            except NotFoundError:
                return None

        return await self._cached(f"id:{token_id}", load)

    async def _cached(
        self, key: str, load: Callable[[], Awaitable[ApiToken | None]]
    ) -> ApiToken | None:
        entry = self._cache.get(key)
        if entry is not None and entry[1] > self._clock():
            token = entry[0]
        else:
            generation = self._generation
            self.lookups += 1
            token = await load()
            if generation == self._generation:
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key] = (token, self._clock() + self._ttl)
        if token is None or not token.is_valid(_utcnow()):
            return None
        return token
