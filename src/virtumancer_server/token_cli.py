"""``virtumancer token create|list|revoke``: manage API tokens in the database directly.

These act on the database through the library (:class:`virtumancer.TokenService`), not
over HTTP, so they work with the server stopped; a running server sees a revoke within
a few seconds (its lookup cache). The secret of a new token is printed once, to standard
output only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeVar

import click

from virtumancer_server.cli_output import Column, OutputFormat, emit, output_option

if TYPE_CHECKING:
    from virtumancer import ApiToken, TokenService

__all__ = ["CLI_ACTOR", "token"]

#: The actor the activity feed records for changes made by these commands.
CLI_ACTOR = "cli"
#: The role names (literal: importing the tokens model costs a CLI call that does not need it).
_ROLES: Final = ("viewer", "operator", "admin")

T = TypeVar("T")

_database_option = click.option(
    "--database",
    metavar="URL",
    help="SQLAlchemy database URL (env VIRTUMANCER_DATABASE_URL; default: the "
    "SQLite file in the user's data directory, as for serve)",
)


def _run(database: str | None, work: Callable[[TokenService], Awaitable[T]]) -> T:
    # The database stack is imported only by the commands that use it.
    import anyio

    from virtumancer import TokenService, acting_as
    from virtumancer_server.config import ServerConfig

    url = ServerConfig.database_url_from_env(database)

    async def main() -> T:
        with acting_as(CLI_ACTOR):
            async with TokenService.open(url) as tokens:
                return await work(tokens)

    return anyio.run(main)


def _when(value: object) -> str:
    return "-" if value is None else str(value)


def _status(token: ApiToken, now: dt.datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


_TOKEN_COLUMNS: Final = (
    Column("ID", "id"),
    Column("NAME", "name"),
    Column("ROLE", "role"),
    Column("STATUS", "status"),
    Column("CREATED", "created_at", _when),
    Column("EXPIRES", "expires_at", _when),
    Column("LAST USED", "last_used_at", _when),
)


@click.group()
def token() -> None:
    """Create, list or revoke API tokens (in the database directly; no server needed).

    A running server sees a revoke within a few seconds (its lookup cache). The secret of a
    new token is printed once, to standard output only.
    """


@token.command()
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(_ROLES), help="what it may do")
@click.option("--expires", metavar="ISO", help="expiry time (ISO 8601; UTC if no zone)")
@click.option("--expires-in", metavar="DURATION", help="expiry after e.g. 30d, 12h, 2w")
@_database_option
def create(
    name: str, role: str, expires: str | None, expires_in: str | None, database: str | None
) -> None:
    """Create a token (NAME: letters, digits, '.', '_', '-') and print its secret once."""
    from virtumancer import parse_duration

    if expires is not None and expires_in is not None:
        raise click.UsageError("argument --expires-in: not allowed with argument --expires")
    expiry: dt.datetime | str | None = expires
    if expires_in is not None:
        expiry = dt.datetime.now(dt.UTC) + parse_duration(expires_in)
    created = _run(database, lambda t: t.create(name, role, expires_at=expiry))
    click.echo(f"Created token {created.name!r} (id {created.id}, role {created.role}).")
    click.echo("Its secret is shown only now; store it safely:")
    click.echo(created.secret)


@token.command("list")
@output_option("table, or json/yaml (the REST API's /tokens shape)")
@_database_option
def list_tokens(output: str, database: str | None) -> None:
    """List tokens (never their secrets)."""
    from virtumancer import make_converter

    tokens = _run(database, lambda t: t.list())
    payload = make_converter().unstructure(tokens)
    if output == OutputFormat.TABLE:
        now = dt.datetime.now(dt.UTC)
        payload = [
            {**row, "status": _status(t, now)} for row, t in zip(payload, tokens, strict=True)
        ]
    emit(payload, OutputFormat(output), _TOKEN_COLUMNS)


@token.command()
@click.argument("token_ref", metavar="NAME_OR_ID")
@_database_option
def revoke(token_ref: str, database: str | None) -> None:
    """Revoke a token by name or id."""
    revoked = _run(database, lambda t: t.revoke(token_ref))
    click.echo(f"Revoked token {revoked.name!r} (id {revoked.id}).")
