"""``virtumancer``: the command line (``virtumancer serve ...``)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import re
import sys
from collections.abc import Sequence

import uvicorn

from virtumancer_server.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServerConfig,
    configured_token,
    generate_token,
    is_loopback,
)
from virtumancer_server.protocol import (
    RESERVED_DESCRIPTORS,
    guarded_http_protocol,
    raise_open_files_limit,
)
from virtumancer_server.token_cli import add_token_parser, run_token_command

__all__ = ["DeniedHandshakeFilter", "RedactSecretsFilter", "browser_url", "build_config", "main"]

_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:token|ticket)=)[^&\s\"]*", re.IGNORECASE)
#: How long in-flight requests may take to finish after SIGINT/SIGTERM.
GRACEFUL_SHUTDOWN_SECONDS = 10


class RedactSecretsFilter(logging.Filter):
    """Redact ``token=``/``ticket=`` query values from uvicorn's access and upgrade logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1REDACTED", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


class DeniedHandshakeFilter(logging.Filter):
    """Drop uvicorn's error line for a WebSocket refused with an HTTP response.

    The consoles refuse upgrades with a real HTTP status (the ASGI denial-response extension);
    uvicorn still logs "ASGI callable returned without completing handshake" at ERROR for
    each (uvicorn PR #3138), which would make every refused console look like a crash.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="virtumancer", description="Manage libvirt/KVM hosts.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web service (REST, WebSocket, dashboard)")
    serve.add_argument("--host", default=DEFAULT_HOST, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8890)")
    serve.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy database URL (env VIRTUMANCER_DATABASE_URL; "
        "default: a SQLite file in the user's data directory)",
    )
    auth = serve.add_mutually_exclusive_group()
    auth.add_argument(
        "--token",
        help="API token, for tests only: a command line is visible to every local user "
        "in ps; use --token-file or env VIRTUMANCER_TOKEN_FILE / VIRTUMANCER_TOKEN "
        "(default: generated)",
    )
    auth.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the API token from this file (env VIRTUMANCER_TOKEN_FILE)",
    )
    auth.add_argument(
        "--no-auth", action="store_true", help="no token at all (loopback addresses only)"
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="extra Origin accepted on WebSockets (repeatable)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="add a demo host (libvirt's test driver) once"
    )
    serve.add_argument(
        "--allow-test-uris",
        action="store_true",
        help="accept test:/// URIs for new hosts (implied by --demo)",
    )
    serve.add_argument(
        "--test-uri-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory test:///PATH.xml node files may be in (repeatable)",
    )
    serve.add_argument(
        "--key-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory URI keyfile=/known_hosts=/pkipath= may name (repeatable; replaces "
        "the default ~/.ssh, ~/.pki/libvirt, /etc/pki/libvirt, /etc/pki/CA)",
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    limits = serve.add_argument_group("limits")
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds a request head may take to arrive (default 10)",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a request body may take after its head (default 30)",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=4096,
        metavar="N",
        help="open connections beyond which new ones get a 503 (default 4096, "
        "capped by the open files limit)",
    )
    limits.add_argument(
        "--max-connections-per-client",
        type=int,
        default=256,
        metavar="N",
        help="open HTTP connections per non-loopback client address (default 256)",
    )
    add_token_parser(commands)
    return parser


def build_config(args: argparse.Namespace) -> tuple[ServerConfig, bool]:
    """Return the config for ``serve`` and whether its token was generated.

    Raises :class:`SystemExit` (via the caller) through ``ValueError`` for a refused setup.
    """
    if args.no_auth and not is_loopback(args.host):
        raise ValueError(
            f"--no-auth is refused on {args.host}: bind to a loopback address or use a token"
        )
    token: str | None = None
    generated = False
    if not args.no_auth:
        token = configured_token(args.token, args.token_file)
        if token is None:
            token, generated = generate_token(), True
    config = ServerConfig(
        host=args.host,
        port=args.port,
        database_url=ServerConfig.database_url_from_env(args.database),
        console_ticket_ttl=ServerConfig.console_ticket_ttl_from_env(),
        token=token,
        no_auth=args.no_auth,
        allowed_origins=tuple(args.allow_origin),
        demo=args.demo,
        allow_test_uris=args.allow_test_uris or args.demo,
        test_uri_dirs=tuple(args.test_uri_dir),
        key_dirs=tuple(args.key_dir),
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        max_connections=args.max_connections,
        max_connections_per_client=args.max_connections_per_client,
    )
    return config, generated


def serve(config: ServerConfig, *, log_level: str = "info") -> None:
    """Run the app on uvicorn until SIGINT/SIGTERM; in-flight requests finish first."""
    from virtumancer_server.app import create_app

    redact = RedactSecretsFilter()
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(redact)
    logging.getLogger("uvicorn.error").addFilter(DeniedHandshakeFilter())
    # Each connection is a descriptor: let the cap, not the default soft limit, bound them.
    max_connections = min(config.max_connections, raise_open_files_limit() - RESERVED_DESCRIPTORS)
    protocol = guarded_http_protocol(
        header_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
        max_connections=max(max_connections, 1),
        max_per_client=config.max_connections_per_client,
    )
    uvicorn_config = uvicorn.Config(
        create_app(config),
        host=config.host,
        port=config.port,
        lifespan="on",
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # Console frames are framebuffer data (already compressed by VNC/SPICE encodings) and
        # /ws messages are small: per-message deflate would only cost CPU on the relay.
        ws_per_message_deflate=False,
        http=protocol,
        # Frames are buffered whole before the app sees them: keep one small.
        ws_max_size=config.ws_max_bytes,
    )
    uvicorn.Server(uvicorn_config).run()


def browser_url(host: str, port: int) -> str:
    """Return the URL a person opens for a server bound to ``host:port``.

    A wildcard bind address is not something a browser can open (``0.0.0.0``, ``::``): the
    loopback address of the same family is printed instead; IPv6 addresses get brackets.
    """
    shown = host or "127.0.0.1"
    try:
        address = ipaddress.ip_address(shown)
    except ValueError:
        address = None
    if address is not None and address.is_unspecified:
        shown = "127.0.0.1" if address.version == 4 else "::1"
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``virtumancer`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        try:
            config, generated = build_config(args)
        except ValueError as exc:
            print(f"virtumancer: {exc}", file=sys.stderr)
            return 2
        if generated:
            # Printed once, to the terminal only; never logged.
            print(f"API token (generated for this run): {config.token}", flush=True)
        elif config.no_auth:
            print("Authentication is OFF (loopback only).", flush=True)
        print(f"Virtumancer: {browser_url(config.host, config.port)}", flush=True)
        serve(config, log_level=args.log_level)
    elif args.command == "token":
        return run_token_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
