"""The API token repository: hashed secrets, roles, use and revocation.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from virtumancer.db import convert
from virtumancer.db._rows import utcnow
from virtumancer.db.schema import ApiTokenRow
from virtumancer.exceptions import ConflictError, NotFoundError
from virtumancer.models.tokens import ApiToken, Role

__all__ = [
    "TOKEN_USE_RESOLUTION",
    "find_token",
    "insert_token",
    "list_tokens",
    "revoke_token",
    "token_by_hash",
]


#: ``last_used_at`` is written at most this often per token (a write per request is waste).
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=1)


def _token_record(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=convert.aware(row.created_at),
        expires_at=convert.aware(row.expires_at) if row.expires_at is not None else None,
        last_used_at=convert.aware(row.last_used_at) if row.last_used_at is not None else None,
        revoked_at=convert.aware(row.revoked_at) if row.revoked_at is not None else None,
    )


def insert_token(
    session: Session,
    *,
    token_id: str,
    name: str,
    role: Role,
    token_hash: str,
    expires_at: dt.datetime | None,
) -> ApiToken:
    """Store a new token (:class:`ConflictError` if the name is taken)."""
    if session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.name == name)) is not None:
        raise ConflictError(f"a token named {name!r} already exists", code="token_exists")
    row = ApiTokenRow(
        id=token_id,
        name=name,
        role=role.value,
        token_hash=token_hash,
        created_at=utcnow(),
        expires_at=convert.naive_utc(expires_at) if expires_at is not None else None,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent insert of the same name won the race
        raise ConflictError(f"a token named {name!r} already exists", code="token_exists") from None
    return _token_record(row)


def list_tokens(session: Session, *, include_revoked: bool = True) -> list[ApiToken]:
    """Return every token, oldest first."""
    query = select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.name)
    if not include_revoked:
        query = query.where(ApiTokenRow.revoked_at.is_(None))
    return [_token_record(row) for row in session.scalars(query)]


def find_token(session: Session, id_or_name: str, by_name: bool = True) -> ApiToken:
    """Return the token with this id, else (``by_name``) this name (:class:`NotFoundError`)."""
    row = session.get(ApiTokenRow, id_or_name)
    if row is None and by_name:
        row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.name == id_or_name))
    if row is None:
        raise NotFoundError(f"no token {id_or_name[:80]!r}")
    return _token_record(row)


def token_by_hash(session: Session, token_hash: str, now: dt.datetime) -> ApiToken | None:
    """Return the token whose secret hashes to ``token_hash``, noting its use (or ``None``).

    ``last_used_at`` is refreshed when older than :data:`TOKEN_USE_RESOLUTION`.
    """
    row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash))
    if row is None:
        return None
    naive_now = convert.naive_utc(now)
    if row.revoked_at is None and (
        row.last_used_at is None or naive_now - row.last_used_at >= TOKEN_USE_RESOLUTION
    ):
        row.last_used_at = naive_now
        session.flush()
    return _token_record(row)


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Mark a token revoked (again is harmless); :class:`NotFoundError` for an unknown id."""
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise NotFoundError(f"no token {token_id[:80]!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return _token_record(row)
