"""The server's configuration: one frozen object built by the CLI (or from the environment)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs
import platformdirs

from virtumancer import UriPolicy, default_key_dirs, default_socket_dirs
from virtumancer_server.demo import DEMO_NODE_PATH

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServerConfig",
    "configured_token",
    "default_database_url",
    "generate_token",
    "is_loopback",
    "read_secret_file",
    "read_token_file",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8890
_ONE_MIB = 1024 * 1024


def is_loopback(host: str) -> bool:
    """Return whether ``host`` (a bind address or name) only accepts local connections."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_database_url() -> str:
    """Return the default database: a SQLite file in the user's data directory."""
    directory = Path(platformdirs.user_data_dir("virtumancer", appauthor=False))
    # The database holds host URIs (which may name credentials): the owner's only.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'virtumancer.db'}"


def _check_token(inst: ServerConfig, _attr: object, value: str | None) -> None:
    if value is None:
        if not inst.no_auth:
            raise ValueError("a token is required unless no_auth is set")
        return
    if inst.no_auth:
        raise ValueError("token and no_auth are mutually exclusive")
    if len(value) < 8 or any(ch.isspace() for ch in value):
        raise ValueError("the token must be at least 8 characters with no whitespace")


def _check_no_auth(inst: ServerConfig, _attr: object, value: bool) -> None:
    if value and not is_loopback(inst.host):
        raise ValueError(f"no_auth is refused on a non-loopback bind address ({inst.host})")


def _check_metrics_open(inst: ServerConfig, _attr: object, value: bool) -> None:
    if value and not is_loopback(inst.host):
        raise ValueError(f"--metrics-open is refused on a non-loopback bind address ({inst.host})")


def _normalize_origins(origins: Iterable[str]) -> tuple[str, ...]:
    return tuple(origin.strip().rstrip("/").lower() for origin in origins)


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How the server runs: bind address, database, auth and limits.

    Either ``token`` (the Bearer token every route but ``/api/v1/health`` requires) or
    ``no_auth=True`` must be given; ``no_auth`` is refused unless ``host`` is a loopback address.
    ``allowed_origins`` are extra ``Origin`` values (``"https://ui.example:8443"``) accepted on
    WebSocket upgrades besides the origin the server is served at.

    ``allow_test_uris`` lets hosts use libvirt's test driver: ``test:///default``, the demo
    node, and node files inside ``test_uri_dirs``. ``key_dirs`` replaces the directories a
    URI's ``keyfile=``/``known_hosts=``/``pkipath=`` may name (default: ``~/.ssh``,
    ``~/.pki/libvirt``, ``/etc/pki/libvirt``, ``/etc/pki/CA``).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str | None = None
    no_auth: bool = attrs.field(default=False, validator=_check_no_auth)
    token: str | None = attrs.field(default=None, validator=_check_token, repr=False)
    allowed_origins: tuple[str, ...] = attrs.field(default=(), converter=_normalize_origins)
    max_body_bytes: int = _ONE_MIB
    #: Seconds a request head may take to arrive (from connect or its first byte).
    header_timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    #: Seconds a request body may take to arrive after its head.
    body_timeout: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    #: Open connections (HTTP and WebSocket) beyond which new ones get a 503.
    max_connections: int = attrs.field(default=4096, validator=attrs.validators.gt(0))
    #: Open HTTP connections per non-loopback client address.
    max_connections_per_client: int = attrs.field(default=256, validator=attrs.validators.gt(0))
    #: Largest WebSocket message accepted from a client (console input and /ws are small).
    ws_max_bytes: int = attrs.field(default=_ONE_MIB, validator=attrs.validators.gt(0))
    demo: bool = False
    allow_test_uris: bool = False
    test_uri_dirs: tuple[str, ...] = ()
    key_dirs: tuple[str, ...] = ()
    stats_interval: float | None = None
    #: A token that may read ``/metrics`` and nothing else (``--metrics-token-file``).
    metrics_token: str | None = attrs.field(default=None, repr=False)
    #: ``/metrics`` without any token (``--metrics-open``; loopback binds only).
    metrics_open: bool = attrs.field(default=False, validator=_check_metrics_open)
    #: Seconds a console ticket stays valid (env ``VIRTUMANCER_CONSOLE_TICKET_TTL``).
    console_ticket_ttl: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    #: This replica's id in a fleet (PostgreSQL; ``--replica-id``; default: generated).
    replica_id: str | None = None

    def uri_policy(self) -> UriPolicy:
        """Return the URI policy for hosts added through this server."""
        return UriPolicy(
            allow_test=self.allow_test_uris or self.demo,
            socket_dirs=default_socket_dirs(),
            key_dirs=self.key_dirs or default_key_dirs(),
            test_dirs=(str(DEMO_NODE_PATH.parent), *self.test_uri_dirs),
        )

    @property
    def auth_required(self) -> bool:
        """Whether requests must carry the token."""
        return self.token is not None

    @staticmethod
    def database_url_from_env(
        explicit: str | None = None,
        *,
        url_file: str | None = None,
        file: Mapping[str, object] | None = None,
    ) -> str:
        """Return the database URL: the one place the server reads the database setting.

        In order: ``explicit`` (``--database``), the file ``url_file``
        (``--database-url-file``), ``VIRTUMANCER_DATABASE_URL``, the file named by
        ``VIRTUMANCER_DATABASE_URL_FILE``, the config file's ``database`` then
        ``database_url_file`` (``file``: its values), else the default SQLite file.
        """
        file = file or {}
        env_file = os.environ.get("VIRTUMANCER_DATABASE_URL_FILE") or None
        for url, path in (
            (explicit, url_file),
            (os.environ.get("VIRTUMANCER_DATABASE_URL") or None, env_file),
            (file.get("database"), file.get("database_url_file")),
        ):
            if url:
                return str(url)
            if path:
                return read_secret_file(str(path), "database URL file")
        return default_database_url()

    @staticmethod
    def config_file_from_env(explicit: str | None = None) -> str | None:
        """Return the config file to read: ``explicit`` (``--config``), else
        ``VIRTUMANCER_SERVE_CONFIG``, else ``None``.

        Not ``VIRTUMANCER_CONFIG``: that names the host commands' file (``uri = ...``), whose
        keys ``serve`` would refuse.
        """
        return explicit or os.environ.get("VIRTUMANCER_SERVE_CONFIG") or None

    @staticmethod
    def console_ticket_ttl_from_env() -> float:
        """Return ``VIRTUMANCER_CONSOLE_TICKET_TTL`` (seconds), or the default of 30."""
        return float(os.environ.get("VIRTUMANCER_CONSOLE_TICKET_TTL") or 30.0)

    @staticmethod
    def serve_options_from_env() -> dict[str, object]:
        """Return the ``serve`` options that only the ASGI entry reads from the environment.

        Keyed by option name (``allow_origin``, ``test_uri_dir``, ``key_dir``, ``demo``),
        only those whose variable is set: ``VIRTUMANCER_ALLOWED_ORIGINS`` (comma-separated),
        ``VIRTUMANCER_TEST_URI_DIRS`` and ``VIRTUMANCER_KEY_DIRS`` (``os.pathsep``-separated),
        ``VIRTUMANCER_DEMO`` (``1``/``true``/``yes``). They take the place of a command line,
        so they come before a config file's values.
        """
        values: dict[str, object] = {}
        origins = os.environ.get("VIRTUMANCER_ALLOWED_ORIGINS")
        if origins is not None:
            values["allow_origin"] = tuple(o for o in origins.split(",") if o.strip())
        for name, variable in (
            ("test_uri_dir", "VIRTUMANCER_TEST_URI_DIRS"),
            ("key_dir", "VIRTUMANCER_KEY_DIRS"),
        ):
            paths = os.environ.get(variable)
            if paths is not None:
                values[name] = _path_list(paths)
        demo = os.environ.get("VIRTUMANCER_DEMO")
        if demo is not None:
            values["demo"] = demo in {"1", "true", "yes"}
        return values


def _path_list(value: str) -> tuple[str, ...]:
    return tuple(part for part in value.split(os.pathsep) if part.strip())


def generate_token() -> str:
    """Return a new random API token."""
    return secrets.token_urlsafe(32)


def read_secret_file(path: str | os.PathLike[str], what: str = "token file") -> str:
    """Return the secret stored in ``path``: its content without surrounding whitespace.

    Raises :class:`ValueError` (naming the file as ``what``, never its content) if it cannot
    be read or is empty.
    """
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValueError(f"cannot read the {what} {path}: {reason}") from None
    if not secret:
        raise ValueError(f"the {what} {path} is empty")
    return secret


def read_token_file(path: str | os.PathLike[str]) -> str:
    """Return the token stored in ``path`` (see :func:`read_secret_file`)."""
    return read_secret_file(path, "token file")


def configured_token(
    token: str | None = None,
    token_file: str | None = None,
    *,
    file: Mapping[str, object] | None = None,
) -> str | None:
    """Return the API token given by the caller or the environment, or ``None``.

    In order: ``token`` (``--token``, for tests: a command line shows in ``ps``),
    ``token_file`` (``--token-file``), the file named by ``VIRTUMANCER_TOKEN_FILE``,
    ``VIRTUMANCER_TOKEN``, then the config file's ``token_file`` and ``token`` (``file``:
    its values).
    """
    if token:
        return token
    token_file = token_file or os.environ.get("VIRTUMANCER_TOKEN_FILE") or None
    if token_file is not None:
        return read_token_file(token_file)
    from_env = os.environ.get("VIRTUMANCER_TOKEN") or None
    if from_env is not None or not file:
        return from_env
    if file.get("token_file"):
        return read_token_file(str(file["token_file"]))
    return str(file["token"]) if file.get("token") else None
