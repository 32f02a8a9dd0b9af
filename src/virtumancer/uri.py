"""The URI policy: which libvirt connection URIs Virtumancer agrees to open.

A libvirt URI is more than an address: some transports and query parameters make libvirt run
a program (``ext``, ``command=``, ``netcat=``), read or write a local file (``keyfile=``,
``known_hosts=``, ``authfile=``, a test driver node) or connect to an arbitrary local socket
(``socket=``), which turns "add a host" into code execution, a file read or SSRF.

The check reads a URI **the way libvirt reads it**, not the way :mod:`urllib.parse` does
(``docs/adr/0009-uri-policy.md``): libvirt hands the URI to libxml2's RFC 3986 parser, takes the
raw query and splits it on ``&`` -- or on ``;`` where no ``&`` follows -- then percent-decodes
each name and value; the remote driver compares names case-insensitively and the last of a
repeated name wins. Anything those rules could read in more than one way is refused outright:
characters outside a small set (``;``, ``#``, quotes, backslashes, spaces ...), malformed
percent escapes, empty or nameless query sections, repeated names, non-ASCII names, control
characters after decoding. What is left is checked against one table of parameters: which
transports read each one and which values it may take. Parameters that name local files are
confined to configured directories.

Pure: no I/O except reading ``HOME``, ``XDG_RUNTIME_DIR`` and the uid for default directories.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping

import attrs

from virtumancer.exceptions import UriPolicyError

__all__ = [
    "ALLOWED_QUERY_PARAMS",
    "ALLOWED_SCHEMES",
    "TEST_SCHEMES",
    "LibvirtUri",
    "UriPolicy",
    "check_uri",
    "default_key_dirs",
    "default_socket_dirs",
    "default_test_dirs",
    "redact_uri",
    "split_libvirt_uri",
]

#: Driver+transport combinations that may be opened.
ALLOWED_SCHEMES = frozenset(
    {"qemu", "qemu+unix", "qemu+ssh", "qemu+tls", "qemu+tcp", "qemu+libssh2", "test", "test+unix"}
)
#: The test driver's schemes; refused when ``allow_test=False``.
TEST_SCHEMES = frozenset({"test", "test+unix"})

# Everything RFC 3986 allows in a URI minus what libvirt or libxml2 could read in two ways:
# ';' (a second query separator), '#' (fragment), and the sub-delimiters nobody needs here.
_URI_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?@&=%+,[]"
)
_URI = re.compile(
    r"(?P<scheme>[^:/?]+)://(?P<authority>[^/?]*)(?P<path>[^?]*)(?:\?(?P<query>.*))?", re.DOTALL
)
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PARAM_NAME = re.compile(r"[a-z0-9_]{1,40}")
_MAX_LENGTH = 2048
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}")
_QEMU_PATHS = frozenset({"/system", "/session"})
_SSH_AUTH_METHODS = frozenset({"agent", "privkey", "password", "keyboard-interactive"})
_TLS_PRIORITY = re.compile(r"[A-Za-z0-9:+!%_.-]{1,200}")
# Where libvirt's remote driver sends a URI of each transport; "local" is the daemon's
# UNIX socket (``qemu:///system``), "inprocess" the test driver inside the client library.
_REMOTE_TRANSPORTS = frozenset({"ssh", "tls", "tcp", "libssh2"})


def default_socket_dirs() -> tuple[str, ...]:
    """Return the directories a ``socket=`` parameter may point into by default.

    ``/run/libvirt``, ``/var/run/libvirt`` and the user's runtime directory
    (``$XDG_RUNTIME_DIR``, else ``/run/user/<uid>``) -- where libvirt's own sockets live.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return ("/run/libvirt", "/var/run/libvirt", runtime)


def default_key_dirs() -> tuple[str, ...]:
    """Return the directories ``keyfile=``, ``known_hosts=`` and ``pkipath=`` may name.

    The service user's ``~/.ssh`` and ``~/.pki/libvirt``, and libvirt's system PKI
    directories ``/etc/pki/libvirt`` and ``/etc/pki/CA``.
    """
    home = posixpath.expanduser("~")
    return (f"{home}/.ssh", f"{home}/.pki/libvirt", "/etc/pki/libvirt", "/etc/pki/CA")


def default_test_dirs() -> tuple[str, ...]:
    """Return the directories a ``test:///PATH.xml`` node file may be in by default.

    The system temporary directory, where scripts and tests write their nodes. The server
    narrows this to its own configured directories.
    """
    import tempfile  # only here: it pulls in shutil, random and the compressors

    return (tempfile.gettempdir(),)


def _refuse(message: str) -> UriPolicyError:
    return UriPolicyError(f"URI refused: {message}", field="uri")


def _inside(path: str, directories: Iterable[str]) -> bool:
    for directory in directories:
        root = posixpath.normpath(directory)
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    return False


def _decode(raw: str, what: str) -> str:
    """Percent-decode ``raw`` as libxml2's ``xmlURIUnescapeString`` does, strictly.

    libxml2 copies a ``%`` that is not followed by two hex digits as it is; such input is
    refused here, as is anything that does not decode to printable UTF-8 (a ``%00`` would
    cut the C string short, so libvirt would see less than we checked).
    """
    if _PERCENT.search(raw):
        raise _refuse(f"{what} has a '%' that is not a %XX escape")
    data = bytearray()
    index = 0
    while index < len(raw):
        if raw[index] == "%":
            data.append(int(raw[index + 1 : index + 3], 16))
            index += 3
        else:
            data.append(ord(raw[index]))
            index += 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(f"{what} does not decode to UTF-8") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise _refuse(f"{what} decodes to control characters")
    return text


@attrs.frozen(kw_only=True)
class LibvirtUri:
    """A URI split the way libvirt splits it (values percent-decoded, names lower-cased).

    ``params`` keeps libvirt's order; ``transport`` is ``"unix"`` for a local daemon
    connection, ``"inprocess"`` for the test driver inside the client library, else the
    remote transport (``ssh``, ``tls``, ``tcp``, ``libssh2``).
    """

    scheme: str
    driver: str
    transport: str
    user: str | None
    host: str
    port: int | None
    path: str
    params: tuple[tuple[str, str], ...]


def split_libvirt_uri(uri: str) -> LibvirtUri:
    """Split ``uri`` as libvirt's ``virURIParse`` and remote driver will read it.

    Refuses (:class:`UriPolicyError`) anything libvirt could read differently from this
    function: see the module docstring. Does not apply the allowlists.
    """
    if not isinstance(uri, str) or not uri:
        raise _refuse("empty URI")
    if len(uri) > _MAX_LENGTH:
        raise _refuse(f"longer than {_MAX_LENGTH} characters")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in uri):
        raise _refuse("whitespace or control characters are not allowed")
    if "#" in uri:
        raise _refuse("a fragment ('#...') is not allowed")
    bad = sorted({ch for ch in uri if ch not in _URI_CHARS})
    if bad:
        shown = " ".join(repr(ch) for ch in bad[:5] if ch.isprintable() and ch.isascii())
        raise _refuse(f"characters not allowed in a URI here: {shown or 'non-ASCII'}")
    match = _URI.fullmatch(uri)
    if match is None:
        raise _refuse("not of the form driver[+transport]://[user@][host][:port]/path")
    scheme = match["scheme"]
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme if re.fullmatch(r"[A-Za-z0-9+.-]{1,40}", scheme) else "?"
        raise _refuse(
            f"scheme {shown!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_SCHEMES))})"
        )
    user, host, port = _split_authority(match["authority"])
    driver, _, transport = scheme.partition("+")
    if not transport:
        transport = "inprocess" if driver == "test" else "tls" if host else "unix"
    path = _decode(match["path"], "the path")
    params = _split_query(match["query"])
    return LibvirtUri(
        scheme=scheme,
        driver=driver,
        transport=transport,
        user=user,
        host=host,
        port=port,
        path=path,
        params=params,
    )


def _split_authority(authority: str) -> tuple[str | None, str, int | None]:
    user: str | None = None
    if "@" in authority:
        userinfo, _, authority = authority.partition("@")
        if "@" in authority:
            raise _refuse("the host part has more than one '@'")
        if ":" in userinfo:
            raise _refuse("a password in the URI is not allowed (use keys or an auth file)")
        user = _decode(userinfo, "the user name")
        if not _USER.fullmatch(user):
            raise _refuse("the user name contains characters that are not allowed")
    port: int | None = None
    if authority.startswith("["):
        literal, bracket, rest = authority[1:].partition("]")
        if not bracket or not re.fullmatch(r"[0-9A-Fa-f:.]{2,45}", literal):
            raise _refuse("the host is not a valid bracketed IPv6 address")
        import ipaddress  # only for bracketed hosts

        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise _refuse(f"host [{literal}] is not a valid IPv6 address") from None
        host = literal
    else:
        host, colon, port_text = authority.partition(":")
        rest = colon + port_text
        if host and not _HOSTNAME.fullmatch(host):
            raise _refuse(f"host {host!r} is not a valid host name or address")
    if rest:
        if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
            raise _refuse("the host or port is malformed (port must be 1-65535)")
        port = int(rest[1:])
        if not 0 < port < 65536:
            raise _refuse(f"port {port} is out of range")
    return user, host, port


def _split_query(query: str | None) -> tuple[tuple[str, str], ...]:
    if query is None:
        return ()
    if query == "":
        raise _refuse("an empty query ('?' with nothing after it) is not allowed")
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    # No ';' got this far, so '&' is libvirt's only separator.
    for section in query.split("&"):
        raw_name, equals, raw_value = section.partition("=")
        if not section or not raw_name:
            # libvirt skips "&&" and ignores "=value": refuse rather than guess intent.
            raise _refuse("the query has an empty or nameless parameter")
        if not equals or not raw_value:
            raise _refuse("every query parameter needs a value (name=value)")
        decoded_name = _decode(raw_name, "a query parameter name")
        name = decoded_name.lower()
        if not _PARAM_NAME.fullmatch(name):
            raise _refuse("a query parameter name has characters that are not allowed")
        if name in seen:
            # The remote driver keeps the last one: a checked first value would be replaced.
            raise _refuse(f"query parameter {name!r} is given twice")
        seen.add(name)
        params.append((name, _decode(raw_value, f"query parameter {name!r}")))
    return tuple(params)


@attrs.frozen
class _Param:
    transports: frozenset[str]
    what: str
    values: frozenset[str] | None = None
    check: Callable[[UriPolicy, str, str], None] | None = None


def _check_path_in(kind: str) -> Callable[[UriPolicy, str, str], None]:
    def check(policy: UriPolicy, name: str, value: str) -> None:
        directories = policy.socket_dirs if kind == "socket" else policy.key_dirs
        if not value.startswith("/") or posixpath.normpath(value) != value:
            raise _refuse(f"query parameter {name!r} must be a normalised absolute path")
        if not _inside(value, directories):
            raise _refuse(f"query parameter {name!r} must point into {', '.join(directories)}")

    return check


def _check_sshauth(_policy: UriPolicy, _name: str, value: str) -> None:
    if any(method not in _SSH_AUTH_METHODS for method in value.split(",")):
        raise _refuse(f"query parameter 'sshauth' must list {', '.join(sorted(_SSH_AUTH_METHODS))}")


def _check_tls_priority(_policy: UriPolicy, _name: str, value: str) -> None:
    if not _TLS_PRIORITY.fullmatch(value):
        raise _refuse("query parameter 'tls_priority' is not a GnuTLS priority string")


_LOCAL = frozenset({"unix"})
_SSH = frozenset({"ssh", "libssh2"})
_BOOL = frozenset({"0", "1"})

#: The query parameters libvirt's remote driver reads that may appear, each with the
#: transports that read it and the values it may take. Everything else is refused: ``command``
#: and ``netcat`` run programs, ``authfile`` reads a local file, ``name`` picks another URI on
#: the far side, ``auth``/``no_sanity`` are not needed, and unknown names are passed through
#: to the remote end.
_PARAMS: Mapping[str, _Param] = {
    "socket": _Param(_LOCAL | _SSH, "the daemon's UNIX socket", check=_check_path_in("socket")),
    "mode": _Param(
        _LOCAL | _SSH, "which daemon to talk to", frozenset({"auto", "legacy", "direct"})
    ),
    "proxy": _Param(_SSH, "the remote proxy", frozenset({"auto", "netcat", "native"})),
    "keyfile": _Param(_SSH, "a local SSH private key", check=_check_path_in("key")),
    "no_verify": _Param(_SSH | {"tls"}, "skip host key or certificate checks", _BOOL),
    "no_tty": _Param(frozenset({"ssh"}), "no terminal prompts", _BOOL),
    "known_hosts": _Param(
        frozenset({"libssh2"}), "a local known_hosts file", check=_check_path_in("key")
    ),
    # "auto" appends unknown host keys to the known_hosts file: a file write, refused.
    "known_hosts_verify": _Param(
        frozenset({"libssh2"}), "host key checking", frozenset({"normal", "ignore"})
    ),
    "sshauth": _Param(frozenset({"libssh2"}), "SSH auth methods", check=_check_sshauth),
    "pkipath": _Param(
        frozenset({"tls"}), "a local directory of TLS keys", check=_check_path_in("key")
    ),
    "tls_priority": _Param(frozenset({"tls"}), "GnuTLS priorities", check=_check_tls_priority),
}
#: The allowed query parameter names and the values each may take (``None``: checked by a rule
#: of its own: a path inside configured directories, a list of methods ...).
ALLOWED_QUERY_PARAMS: Mapping[str, frozenset[str] | None] = {
    name: param.values for name, param in _PARAMS.items()
}
_REFUSED_WHY = {
    "command": "it runs an arbitrary program",
    "netcat": "it runs an arbitrary program on the remote host",
    "name": "it selects another URI on the remote side",
    "authfile": "it reads a local file",
}


def _dirs(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(posixpath.normpath(directory) for directory in value)


def _optional_dirs(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else _dirs(value)


@attrs.frozen(kw_only=True)
class UriPolicy:
    """Which libvirt URIs may be opened; :meth:`check` applies it.

    ``socket_dirs`` bound ``socket=``; ``key_dirs`` bound ``keyfile=``, ``known_hosts=`` and
    ``pkipath=``; ``test_dirs`` bound the node file of a ``test:///PATH.xml`` URI
    (``test:///default`` is always allowed while ``allow_test`` is true).
    """

    allow_test: bool = True
    socket_dirs: tuple[str, ...] = attrs.field(factory=default_socket_dirs, converter=_dirs)
    key_dirs: tuple[str, ...] = attrs.field(factory=default_key_dirs, converter=_dirs)
    #: ``None``: the system temporary directory, looked up when a node path is checked (so
    #: that opening ``qemu:///system`` does not import :mod:`tempfile`).
    test_dirs: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_dirs)

    @classmethod
    def default(
        cls,
        *,
        allow_test: bool = True,
        extra_socket_dirs: Iterable[str] = (),
        extra_key_dirs: Iterable[str] = (),
        test_dirs: Iterable[str] | None = None,
    ) -> UriPolicy:
        """Return the default policy widened by ``extra_*`` directories.

        ``test_dirs`` replaces the default test node directories when given.
        """
        return cls(
            allow_test=allow_test,
            socket_dirs=(*default_socket_dirs(), *extra_socket_dirs),
            key_dirs=(*default_key_dirs(), *extra_key_dirs),
            test_dirs=test_dirs,
        )

    def check(self, uri: str) -> str:
        """Return ``uri`` unchanged if the policy allows it.

        Raises :class:`~virtumancer.exceptions.UriPolicyError` (an ``InvalidInputError`` with
        ``field="uri"``) whose message names the offending part: the scheme, the user, the
        host, the path, or the query parameter. The message never repeats a password.
        """
        parts = split_libvirt_uri(uri)
        if parts.driver == "test" and not self.allow_test:
            raise _refuse(
                f"scheme {parts.scheme!r} (libvirt's test driver) is disabled by configuration"
            )
        remote = parts.transport in _REMOTE_TRANSPORTS
        if not remote and (parts.host or parts.user is not None or parts.port is not None):
            raise _refuse(f"the local transport of {parts.scheme!r} takes no user, host or port")
        self._check_path(parts)
        for name, value in parts.params:
            self._check_param(parts.transport, name, value)
        return uri

    def _check_path(self, parts: LibvirtUri) -> None:
        path = parts.path
        if parts.driver == "qemu":
            if path not in _QEMU_PATHS:
                raise _refuse(f"path {path!r} is not allowed for qemu (use /system or /session)")
            return
        if path == "/default":
            return
        normalised = path.startswith("/") and posixpath.normpath(path) == path
        if not (normalised and path.endswith(".xml")):
            raise _refuse(f"path {path!r} is not allowed for test (use /default or /abs/node.xml)")
        test_dirs = default_test_dirs() if self.test_dirs is None else self.test_dirs
        if not _inside(path, test_dirs):
            shown = ", ".join(test_dirs) or "no directory (configure one)"
            raise _refuse(f"path {path!r}: test driver node files must be in {shown}")

    def _check_param(self, transport: str, name: str, value: str) -> None:
        param = _PARAMS.get(name)
        if param is None:
            why = _REFUSED_WHY.get(name, "it is not in the allowlist")
            raise _refuse(f"query parameter {name!r} is not allowed: {why}")
        if transport not in param.transports:
            readers = ", ".join(sorted(param.transports))
            raise _refuse(
                f"query parameter {name!r} ({param.what}) is not read by the {transport!r} "
                f"transport (only by {readers})"
            )
        if param.values is not None and value not in param.values:
            raise _refuse(
                f"query parameter {name!r} must be one of {', '.join(sorted(param.values))}"
            )
        if param.check is not None:
            param.check(self, name, value)


def check_uri(
    uri: str,
    *,
    allow_test: bool = True,
    extra_socket_dirs: Iterable[str] = (),
    extra_key_dirs: Iterable[str] = (),
    test_dirs: Iterable[str] | None = None,
) -> str:
    """Check ``uri`` against the default :class:`UriPolicy` widened by the ``extra_*`` dirs.

    Returns ``uri`` unchanged if it is allowed; see :meth:`UriPolicy.check`.
    """
    return UriPolicy.default(
        allow_test=allow_test,
        extra_socket_dirs=extra_socket_dirs,
        extra_key_dirs=extra_key_dirs,
        test_dirs=test_dirs,
    ).check(uri)


def redact_uri(uri: str) -> str:
    """Return ``uri`` with anything secret removed, safe to log or display.

    A password in the user part becomes ``***``; query parameters outside the allowlist (which
    could carry tokens) have their values replaced by ``***``. Splits the query on both of
    libvirt's separators. Never raises, even for malformed input.
    """
    head, question, query = uri.partition("?")
    scheme, sep, rest = head.partition("://")
    if sep:
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            userinfo, _, hostport = authority.rpartition("@")
            user, colon, _password = userinfo.partition(":")
            authority = f"{user}{':***' if colon else ''}@{hostport}"
        head = f"{scheme}://{authority}{slash}{path}"
    if not question:
        return head
    shown = []
    for section in re.split(r"[&;]", query.partition("#")[0]):
        name, equals, value = section.partition("=")
        keep = name.lower() in _PARAMS and "%" not in name
        shown.append(f"{name}{equals}{value if keep or not equals else '***'}")
    return f"{head}?{'&'.join(shown)}"
