"""``virtumancer token create|list|revoke``: manage API tokens in the database directly.

These act on the database through the library (:class:`virtumancer.TokenService`), not
over HTTP, so they work with the server stopped; a running server sees a revoke within
a few seconds (its lookup cache). The secret of a new token is printed once, to standard
output only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from virtumancer import (
    ApiToken,
    InvalidInputError,
    Role,
    TokenService,
    VirtumancerError,
    acting_as,
    parse_duration,
)
from virtumancer_server.config import ServerConfig

__all__ = ["CLI_ACTOR", "add_token_parser", "run_token_command"]

#: The actor the activity feed records for changes made by these commands.
CLI_ACTOR = "cli"

T = TypeVar("T")


def add_token_parser(commands: Any) -> None:
    """Add the ``token`` command and its subcommands to the CLI's subparsers."""
    token = commands.add_parser("token", help="create, list or revoke API tokens")
    actions = token.add_subparsers(dest="subcommand", required=True)

    def database_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--database",
            metavar="URL",
            help="SQLAlchemy database URL (env VIRTUMANCER_DATABASE_URL; default: the "
            "SQLite file in the user's data directory, as for serve)",
        )

    create = actions.add_parser("create", help="create a token and print its secret once")
    create.add_argument("name", help="a unique name (letters, digits, '.', '_', '-')")
    create.add_argument(
        "--role", required=True, choices=[role.value for role in Role], help="what it may do"
    )
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires", metavar="ISO", help="expiry time (ISO 8601; UTC if no zone)")
    expiry.add_argument("--expires-in", metavar="DURATION", help="expiry after e.g. 30d, 12h, 2w")
    database_option(create)
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    database_option(listing)
    revoke = actions.add_parser("revoke", help="revoke a token by name or id")
    revoke.add_argument("token", metavar="NAME_OR_ID")
    database_option(revoke)


def _run(url: str, work: Callable[[TokenService], Awaitable[T]]) -> T:
    async def main() -> T:
        with acting_as(CLI_ACTOR):
            async with TokenService.open(url) as tokens:
                return await work(tokens)

    return anyio.run(main)


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _status(token: ApiToken, now: dt.datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def _print_table(tokens: list[ApiToken]) -> None:
    now = dt.datetime.now(dt.UTC)
    header = ("ID", "NAME", "ROLE", "STATUS", "CREATED", "EXPIRES", "LAST USED")
    rows = [header] + [
        (
            t.id,
            t.name,
            t.role.value,
            _status(t, now),
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
        )
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def run_token_command(args: argparse.Namespace) -> int:
    """Run ``virtumancer token ...``; return the exit status (2 for bad input, 1 otherwise)."""
    url = ServerConfig.database_url_from_env(args.database)
    try:
        if args.subcommand == "create":
            expires: dt.datetime | str | None = args.expires
            if args.expires_in is not None:
                expires = dt.datetime.now(dt.UTC) + parse_duration(args.expires_in)
            created = _run(url, lambda t: t.create(args.name, args.role, expires_at=expires))
            print(f"Created token {created.name!r} (id {created.id}, role {created.role}).")
            print("Its secret is shown only now; store it safely:")
            print(created.secret, flush=True)
        elif args.subcommand == "list":
            _print_table(_run(url, lambda t: t.list()))
        elif args.subcommand == "revoke":
            revoked = _run(url, lambda t: t.revoke(args.token))
            print(f"Revoked token {revoked.name!r} (id {revoked.id}).")
    except InvalidInputError as exc:
        print(f"virtumancer: {exc.message}", file=sys.stderr)
        return 2
    except VirtumancerError as exc:
        print(f"virtumancer: {exc.message}", file=sys.stderr)
        return 1
    return 0
