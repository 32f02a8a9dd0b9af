"""The URI policy: which libvirt connection URIs Virtumancer agrees to open.

A libvirt URI is more than an address: some transports and query parameters make libvirt run
a program (``ext``, ``command=``, ``netcat=``) or connect to an arbitrary local socket
(``socket=``), which turns "add a host" into code execution or SSRF. :func:`check_uri` is
applied before anything is opened; it allows a fixed set of drivers and transports and a fixed
set of query parameters, and names the offending part when it refuses.

Pure: no I/O except reading ``XDG_RUNTIME_DIR`` / the uid for the default socket directories.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from virtumancer.exceptions import UriPolicyError

__all__ = [
    "ALLOWED_QUERY_PARAMS",
    "ALLOWED_SCHEMES",
    "TEST_SCHEMES",
    "check_uri",
    "default_socket_dirs",
    "redact_uri",
]

#: Driver+transport combinations that may be opened.
ALLOWED_SCHEMES = frozenset(
    {"qemu", "qemu+unix", "qemu+ssh", "qemu+tls", "qemu+tcp", "qemu+libssh2", "test", "test+unix"}
)
#: The test driver's schemes; refused when ``allow_test=False``.
TEST_SCHEMES = frozenset({"test", "test+unix"})

#: Query parameters that may appear, with the values allowed (``None``: any value that passes
#: the generic checks). Everything else -- ``command``, ``netcat``, ``name``, ``tls_priority`` ...
#: -- is refused.
ALLOWED_QUERY_PARAMS: Mapping[str, frozenset[str] | None] = {
    "socket": None,  # checked against the allowed socket directories
    "keyfile": None,
    "known_hosts": None,
    "pkipath": None,
    "no_verify": frozenset({"0", "1"}),
    "no_tty": frozenset({"0", "1"}),
    "known_hosts_verify": frozenset({"normal", "auto", "ignore"}),
    "sshauth": None,  # a list of auth methods; checked below
    "mode": frozenset({"auto", "legacy", "direct"}),
    "proxy": frozenset({"auto", "netcat", "native"}),
}
_SSH_AUTH_METHODS = frozenset({"agent", "privkey", "password", "keyboard-interactive"})
_PATH_PARAMS = frozenset({"socket", "keyfile", "known_hosts", "pkipath"})
_REMOTE_TRANSPORTS = frozenset({"ssh", "tls", "tcp", "libssh2"})
_QEMU_PATHS = frozenset({"/system", "/session"})
_MAX_LENGTH = 2048
_HOSTNAME = re.compile(
    r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$"
)
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$")


def default_socket_dirs() -> tuple[str, ...]:
    """Return the directories a ``socket=`` parameter may point into by default.

    ``/run/libvirt``, ``/var/run/libvirt`` and the user's runtime directory
    (``$XDG_RUNTIME_DIR``, else ``/run/user/<uid>``) -- where libvirt's own sockets live.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return ("/run/libvirt", "/var/run/libvirt", runtime)


def _refuse(message: str) -> UriPolicyError:
    return UriPolicyError(f"URI refused: {message}", field="uri")


def _inside(path: str, directories: Iterable[str]) -> bool:
    for directory in directories:
        root = posixpath.normpath(directory)
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    return False


def check_uri(
    uri: str,
    *,
    allow_test: bool = True,
    extra_socket_dirs: Iterable[str] = (),
) -> str:
    """Check ``uri`` against the URI policy and return it unchanged if it is allowed.

    Raises :class:`~virtumancer.exceptions.UriPolicyError` (an ``InvalidInputError`` with
    ``field="uri"``) whose message names the offending part: the scheme, the user or
    password, the host, the path, or the query parameter. The message never repeats a password.
    ``extra_socket_dirs`` adds directories a ``socket=`` path may point into (for a private
    libvirtd, e.g. in tests).
    """
    if not isinstance(uri, str) or not uri:
        raise _refuse("empty URI")
    if len(uri) > _MAX_LENGTH:
        raise _refuse(f"longer than {_MAX_LENGTH} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in uri):
        raise _refuse("whitespace or control characters are not allowed")
    if "://" not in uri:
        raise _refuse("not of the form driver[+transport]://[user@][host][:port]/path")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        # Not the ValueError's text: it can quote a password mistaken for a port.
        raise _refuse("the host or port is malformed (port must be 1-65535)") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme if re.fullmatch(r"[a-z0-9+.-]{1,40}", scheme) else "?"
        raise _refuse(
            f"scheme {shown!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_SCHEMES))})"
        )
    if scheme in TEST_SCHEMES and not allow_test:
        raise _refuse(f"scheme {scheme!r} (libvirt's test driver) is disabled by configuration")
    driver, _, transport = scheme.partition("+")
    if parts.fragment or uri.endswith("#"):
        raise _refuse("a fragment ('#...') is not allowed")
    if parts.password is not None:
        raise _refuse("a password in the URI is not allowed (use keys or an auth file)")
    if parts.username is not None and not _USER.fullmatch(unquote(parts.username)):
        raise _refuse("the user name contains characters that are not allowed")
    hostname = parts.netloc.rpartition("@")[2]
    if port is not None:
        hostname = hostname.rsplit(":", 1)[0]
    if hostname and not _HOSTNAME.fullmatch(hostname):
        raise _refuse(f"host {hostname!r} is not a valid host name or address")
    if port is not None and not 0 < port < 65536:
        raise _refuse(f"port {port} is out of range")
    remote = transport in _REMOTE_TRANSPORTS or (transport == "" and bool(hostname))
    if not remote and (hostname or parts.username is not None or port is not None):
        raise _refuse(f"the local transport of {scheme!r} takes no user, host or port")
    path = unquote(parts.path)
    if driver == "qemu":
        if path not in _QEMU_PATHS:
            raise _refuse(f"path {path!r} is not allowed for qemu (use /system or /session)")
    elif path != "/default" and not (
        path.startswith("/") and posixpath.normpath(path) == path and path.endswith(".xml")
    ):
        raise _refuse(f"path {path!r} is not allowed for test (use /default or /abs/node.xml)")
    _check_query(parts.query, transport=transport, extra_socket_dirs=extra_socket_dirs)
    return uri


def _check_query(query: str, *, transport: str, extra_socket_dirs: Iterable[str]) -> None:
    if not query:
        return
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise _refuse("malformed query string") from None
    seen: set[str] = set()
    for raw_key, value in pairs:
        key = raw_key.lower()
        shown = key if re.fullmatch(r"[a-z0-9_-]{1,40}", key) else "?"
        if key not in ALLOWED_QUERY_PARAMS:
            why = {
                "command": "it runs an arbitrary program",
                "netcat": "it runs an arbitrary program on the remote host",
                "name": "it selects another URI on the remote side",
            }.get(key, "it is not in the allowlist")
            raise _refuse(f"query parameter {shown!r} is not allowed: {why}")
        if key in seen:
            raise _refuse(f"query parameter {shown!r} is given twice")
        seen.add(key)
        allowed_values = ALLOWED_QUERY_PARAMS[key]
        if allowed_values is not None and value not in allowed_values:
            raise _refuse(
                f"query parameter {key!r} must be one of {', '.join(sorted(allowed_values))}"
            )
        if key == "sshauth":
            methods = value.split(",")
            if not value or any(method not in _SSH_AUTH_METHODS for method in methods):
                raise _refuse(
                    f"query parameter 'sshauth' must list {', '.join(sorted(_SSH_AUTH_METHODS))}"
                )
        if key in _PATH_PARAMS and (
            not value.startswith("/") or posixpath.normpath(value) != value
        ):
            raise _refuse(f"query parameter {key!r} must be a normalised absolute path")
        if key == "socket":
            if transport in {"tcp", "tls"}:
                raise _refuse(f"query parameter 'socket' makes no sense with +{transport}")
            directories = (*default_socket_dirs(), *extra_socket_dirs)
            if not _inside(value, directories):
                raise _refuse(f"query parameter 'socket' must point into {', '.join(directories)}")
    verify = {k.lower(): v for k, v in pairs}.get("known_hosts_verify")
    if "known_hosts" in seen and verify == "auto":
        # libvirt appends accepted host keys to that file: a write anywhere, as us.
        raise _refuse("query parameter 'known_hosts' with known_hosts_verify=auto writes a file")


def redact_uri(uri: str) -> str:
    """Return ``uri`` with anything secret removed, safe to log or display.

    A password in the user part becomes ``***``; query parameters outside the allowlist (which
    could carry tokens) have their values replaced by ``***``. Never raises, even for
    malformed input.
    """
    try:
        parts = urlsplit(uri)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, colon, _password = userinfo.partition(":")
            netloc = f"{user}{':***' if colon else ''}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = "&".join(
                f"{quote(key, safe='')}="
                + (quote(value, safe="/,") if key.lower() in ALLOWED_QUERY_PARAMS else "***")
                for key, value in pairs
            )
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    except ValueError:
        return "<unparseable URI>"
