"""``virtumancer``: the command line (``serve``, ``token ...``, and the host commands).

Built on Click (docs/adr/0014-cli-library.md). A CLI call is a new process, so this module
imports only Click and the library's light parts: the web stack (uvicorn, Falcon) is imported
inside ``serve``, the database inside ``token``, Rich and PyYAML only when they print.

Exit codes (docs/cli.md) come from one table, :data:`EXIT_BY_ERROR`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Final

import click

from virtumancer import (
    ConflictError,
    HostUnavailableError,
    InvalidInputError,
    NotFoundError,
    VirtumancerError,
    __version__,
)
from virtumancer_server.cli_import import COMMANDS as IMPORT_COMMANDS
from virtumancer_server.cli_libvirt import COMMANDS as HOST_COMMANDS
from virtumancer_server.cli_lifecycle import COMMANDS as LIFECYCLE_COMMANDS
from virtumancer_server.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServerConfig,
    configured_token,
    generate_token,
    is_loopback,
    read_token_file,
)
from virtumancer_server.token_cli import token

__all__ = [
    "EXIT_BY_ERROR",
    "EXIT_OK",
    "EXIT_OTHER",
    "EXIT_USAGE",
    "DeniedHandshakeFilter",
    "RedactSecretsFilter",
    "asgi_config",
    "browser_url",
    "build_config",
    "cli",
    "exit_code_for",
    "main",
    "run_server",
]

EXIT_OK: Final = 0
#: Any error not in the table below.
EXIT_OTHER: Final = 1
#: Bad input or usage (Click's own usage errors exit with 2 as well).
EXIT_USAGE: Final = 2

#: The one table from the library's exception tree to exit codes: the most specific class in
#: an exception's MRO decides (a timeout is a kind of unavailability: 5).
EXIT_BY_ERROR: Final[Mapping[type[VirtumancerError], int]] = {
    InvalidInputError: EXIT_USAGE,
    NotFoundError: 3,
    ConflictError: 4,
    HostUnavailableError: 5,
    VirtumancerError: EXIT_OTHER,
}


def exit_code_for(exc: VirtumancerError) -> int:
    """Return the exit code of ``exc`` from :data:`EXIT_BY_ERROR`."""
    for cls in type(exc).__mro__:
        if cls in EXIT_BY_ERROR:
            return EXIT_BY_ERROR[cls]
    return EXIT_OTHER


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="virtumancer")
def cli() -> None:
    """Manage libvirt/KVM hosts: serve the web service, or drive a host directly."""


def _exclusive(params: Mapping[str, Any], *names: str) -> None:
    given = [name for name in names if params.get(name)]
    if len(given) > 1:
        first, second = (f"--{name.replace('_', '-')}" for name in given[:2])
        # argparse's wording, which scripts and tests already match.
        raise click.UsageError(f"argument {second}: not allowed with argument {first}")


@cli.command()
@click.option(
    "--config",
    metavar="FILE",
    help="read settings from this TOML file (env VIRTUMANCER_SERVE_CONFIG; keys: the option "
    "names, e.g. token_file; the command line and the environment come first)",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="bind address")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="port")
@click.option(
    "--database",
    metavar="URL",
    help="SQLAlchemy database URL (env VIRTUMANCER_DATABASE_URL; "
    "default: a SQLite file in the user's data directory)",
)
@click.option(
    "--database-url-file",
    metavar="PATH",
    help="read the database URL from this file, so its password is not on the command line "
    "(env VIRTUMANCER_DATABASE_URL_FILE)",
)
@click.option(
    "--token",
    help="API token, for tests only: a command line is visible to every local user "
    "in ps; use --token-file or env VIRTUMANCER_TOKEN_FILE / VIRTUMANCER_TOKEN "
    "(default: generated)",
)
@click.option(
    "--token-file",
    metavar="PATH",
    help="read the API token from this file (env VIRTUMANCER_TOKEN_FILE)",
)
@click.option("--no-auth", is_flag=True, help="no token at all (loopback addresses only)")
@click.option(
    "--allow-origin",
    multiple=True,
    metavar="ORIGIN",
    help="extra Origin accepted on WebSockets (repeatable)",
)
@click.option("--demo", is_flag=True, help="add a demo host (libvirt's test driver) once")
@click.option(
    "--allow-test-uris",
    is_flag=True,
    help="accept test:/// URIs for new hosts (implied by --demo)",
)
@click.option(
    "--test-uri-dir",
    multiple=True,
    metavar="DIR",
    help="a directory test:///PATH.xml node files may be in (repeatable)",
)
@click.option(
    "--key-dir",
    multiple=True,
    metavar="DIR",
    help="a directory URI keyfile=/known_hosts=/pkipath= may name (repeatable; replaces "
    "the default ~/.ssh, ~/.pki/libvirt, /etc/pki/libvirt, /etc/pki/CA)",
)
@click.option(
    "--metrics-token-file",
    metavar="PATH",
    help="a token, read from this file, that may read /metrics and nothing else",
)
@click.option(
    "--metrics-open",
    is_flag=True,
    help="serve /metrics without any token (loopback addresses only)",
)
@click.option(
    "--replica-id",
    metavar="ID",
    help="this replica's id in a fleet on one PostgreSQL (default: host name + random)",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn log level")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line (time, level, logger, message; request fields on "
    "access lines)",
)
@click.option(
    "--header-timeout",
    type=float,
    default=10.0,
    show_default=True,
    metavar="S",
    help="seconds a request head may take to arrive",
)
@click.option(
    "--body-timeout",
    type=float,
    default=30.0,
    show_default=True,
    metavar="S",
    help="seconds a request body may take after its head",
)
@click.option(
    "--max-connections",
    type=int,
    default=4096,
    show_default=True,
    metavar="N",
    help="open connections beyond which new ones get a 503 (capped by the open files limit)",
)
@click.option(
    "--max-connections-per-client",
    type=int,
    default=256,
    show_default=True,
    metavar="N",
    help="open HTTP connections per non-loopback client address",
)
def serve(**params: Any) -> int:
    """Run the web service (REST, WebSocket, dashboard)."""
    from virtumancer_server.config_file import EXCLUSIVE

    for group in EXCLUSIVE:
        _exclusive(params, *group)
    ctx = click.get_current_context()
    if _url_password(params["database"]):
        # Said on every start, never with the URL itself.
        click.echo(
            "virtumancer: warning: --database carries a password, which every local user "
            "can read in ps; use --database-url-file or VIRTUMANCER_DATABASE_URL",
            err=True,
        )
    try:
        args, config, generated = _layered_config(params, ctx)
        if generated and args.log_format == "json":
            raise ValueError(
                "--log-format json needs a configured token (token_file, "
                "VIRTUMANCER_TOKEN_FILE...): a generated one would be printed into the logs"
            )
    except ValueError as exc:
        click.echo(f"virtumancer: {exc}", err=True)
        return EXIT_USAGE
    if args.log_format == "json":
        from virtumancer_server.logs import configure_json_logging

        configure_json_logging(args.log_level)
        logging.getLogger("virtumancer_server").info(
            "serving at %s%s",
            browser_url(config.host, config.port),
            " (authentication is OFF: loopback only)" if config.no_auth else "",
        )
    else:
        if generated:
            # Printed once, to the terminal only; never logged.
            print(f"API token (generated for this run): {config.token}", flush=True)
        elif config.no_auth:
            print("Authentication is OFF (loopback only).", flush=True)
        print(f"Virtumancer: {browser_url(config.host, config.port)}", flush=True)
    run_server(config, log_level=args.log_level, log_format=args.log_format)
    return EXIT_OK


def _layered_config(
    params: dict[str, Any], ctx: click.Context
) -> tuple[SimpleNamespace, ServerConfig, bool]:
    """Return ``serve``'s options with the config file's under them, the config, and
    whether a token was generated. Raises ``ValueError`` for a bad file or a refused setup.

    ``params``/``ctx``: the options as parsed (``serve``) or made up (:func:`asgi_config`).
    """
    from virtumancer_server.config_file import load_config_file, merge_layers

    config_path = ServerConfig.config_file_from_env(params.pop("config"))
    file_values = load_config_file(config_path, ctx.command.params) if config_path else {}
    params, behind_env = merge_layers(params, ctx, file_values)
    args = SimpleNamespace(**params)
    config, generated = build_config(args, file=behind_env)
    return args, config, generated


#: Options of ``serve`` that uvicorn's own command line decides under the ASGI entry
#: (``host``/``port`` are kept: they name the replica in ``/api/v1/cluster``).
_UVICORN_DECIDES: Final = (
    "log_level",
    "log_format",
    "header_timeout",
    "body_timeout",
    "max_connections",
    "max_connections_per_client",
)


def asgi_config() -> ServerConfig:
    """Return the config of ``uvicorn virtumancer_server.asgi:app``.

    The settings ``serve`` would take with no command line: the environment, then the
    config file named by ``VIRTUMANCER_SERVE_CONFIG`` (read by the same code as ``serve
    --config``), then the defaults. What uvicorn's own options decide (logging, timeouts,
    connection limits) has no effect and is warned about; ``host``/``port`` only name the
    replica (uvicorn binds); ``no_auth``/``metrics_open`` are refused: the app cannot see
    the address uvicorn binds. Raises ``ValueError``.
    """
    from click.core import ParameterSource

    ctx = serve.make_context("serve", [])
    for name, value in ServerConfig.serve_options_from_env().items():
        ctx.params[name] = value
        ctx.set_parameter_source(name, ParameterSource.ENVIRONMENT)
    args, config, generated = _layered_config(dict(ctx.params), ctx)
    refused = [name for name in ("no_auth", "metrics_open") if getattr(args, name)]
    if refused:
        raise ValueError(
            f"{refused[0]} is refused under uvicorn (the bind address is uvicorn's): "
            "use `virtumancer serve`"
        )
    ignored = [name for name in _UVICORN_DECIDES if getattr(args, name) != ctx.params[name]]
    if ignored:
        logging.getLogger("virtumancer_server").warning(
            "the config file's %s: ignored, uvicorn's own options decide", ", ".join(ignored)
        )
    if generated:
        # Printed once, to the terminal only; never logged.
        print(f"virtumancer: API token (generated): {config.token}", file=sys.stderr, flush=True)
    return config


def _url_password(url: str | None) -> bool:
    from urllib.parse import urlsplit

    try:
        return bool(url) and bool(urlsplit(url).password)
    except ValueError:  # a malformed URL: the database layer says what is wrong with it
        return False


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    bash: ``eval "$(virtumancer completion bash)"`` in ~/.bashrc; zsh likewise in ~/.zshrc;
    fish: ``virtumancer completion fish > ~/.config/fish/completions/virtumancer.fish``.
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the choice above lists only shells Click supports
    click.echo(completer(cli, {}, "virtumancer", "_VIRTUMANCER_COMPLETE").source())


cli.add_command(token)
for _command in (*HOST_COMMANDS, *LIFECYCLE_COMMANDS, *IMPORT_COMMANDS):
    cli.add_command(_command)


def build_config(args: Any, *, file: Mapping[str, Any] | None = None) -> tuple[ServerConfig, bool]:
    """Return the config for ``serve`` (``args``: its options) and whether a token was made.

    ``file`` holds the config file's values of the options the environment may also set
    (read after the environment). Raises ``ValueError`` for a refused setup.
    """
    if args.no_auth and not is_loopback(args.host):
        raise ValueError(
            f"--no-auth is refused on {args.host}: bind to a loopback address or use a token"
        )
    token: str | None = None
    generated = False
    if not args.no_auth:
        token = configured_token(args.token, args.token_file, file=file)
        if token is None:
            token, generated = generate_token(), True
    config = ServerConfig(
        host=args.host,
        port=args.port,
        database_url=ServerConfig.database_url_from_env(
            args.database, url_file=getattr(args, "database_url_file", None), file=file
        ),
        console_ticket_ttl=ServerConfig.console_ticket_ttl_from_env(),
        token=token,
        no_auth=args.no_auth,
        allowed_origins=tuple(args.allow_origin),
        demo=args.demo,
        allow_test_uris=args.allow_test_uris or args.demo,
        test_uri_dirs=tuple(args.test_uri_dir),
        key_dirs=tuple(args.key_dir),
        metrics_token=read_token_file(args.metrics_token_file) if args.metrics_token_file else None,
        metrics_open=args.metrics_open,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        max_connections=args.max_connections,
        max_connections_per_client=args.max_connections_per_client,
        replica_id=getattr(args, "replica_id", None),
    )
    return config, generated


def run_server(config: ServerConfig, *, log_level: str = "info", log_format: str = "text") -> None:
    """Run the app on uvicorn until SIGINT/SIGTERM; in-flight requests finish first.

    ``log_format="json"`` writes every log line (uvicorn's access and error logs, the
    library's) as one JSON object (:mod:`virtumancer_server.logs`).
    """
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from virtumancer_server.app import create_app
    from virtumancer_server.logs import json_logging_config
    from virtumancer_server.protocol import (
        RESERVED_DESCRIPTORS,
        guarded_http_protocol,
        raise_open_files_limit,
    )

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
        log_config=json_logging_config(log_level) if log_format == "json" else LOGGING_CONFIG,
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
    """Entry point of the ``virtumancer`` console script; return the exit code."""
    try:
        result = cli.main(args=argv, prog_name="virtumancer", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except VirtumancerError as exc:
        click.echo(f"virtumancer: {exc}", err=True)
        return exit_code_for(exc)
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
