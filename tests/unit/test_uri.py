"""The URI policy: what may be opened, what is refused, and why."""

from __future__ import annotations

import pytest

from virtumancer import UriPolicy, UriPolicyError, check_uri, redact_uri
from virtumancer.uri import split_libvirt_uri

HOME = "/home/ops"
ALLOWED = [
    "qemu:///system",
    "qemu:///session",
    "qemu+unix:///system",
    "qemu+unix:///system?socket=/run/libvirt/libvirt-sock",
    "qemu+unix:///system?socket=/var/run/libvirt/virtqemud-sock",
    "qemu:///system?mode=direct",
    "qemu+ssh://root@kvm1.example.com/system",
    f"qemu+ssh://root@127.0.0.1:2222/system?keyfile={HOME}/.ssh/id_ed25519&no_verify=1",
    f"qemu+ssh://root@127.0.0.1:2222/system?KeyFile={HOME}/.ssh/id%5Fed25519",
    f"qemu+libssh2://admin@[2001:db8::1]:22/system?known_hosts={HOME}/.ssh/known_hosts"
    "&sshauth=privkey,agent&known_hosts_verify=ignore",
    "qemu+tls://kvm1.example.com/system?pkipath=/etc/pki/libvirt",
    "qemu+tls://kvm1.example.com/system?tls_priority=NORMAL:-VERS-TLS1.0&no_verify=0",
    "qemu+tcp://10.0.0.5:16509/system",
    "qemu://kvm1.example.com/system",
    "qemu+ssh://kvm1/system?mode=direct&proxy=native&no_tty=1",
    "test:///default",
    "test:///tmp/vmt-node/node.xml",
    "test+unix:///default",
    "test+unix:///tmp/vmt-node/node.xml",
]


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", HOME)


@pytest.mark.parametrize("uri", ALLOWED)
def test_allowed_uris_pass_unchanged(uri: str) -> None:
    assert check_uri(uri) == uri


# (uri, a word the error must contain, naming the offending part)
REFUSED = [
    ("ext:///system?command=/bin/sh", "'ext'"),
    ("xen:///system", "'xen'"),
    ("lxc:///", "'lxc'"),
    ("vbox:///session", "'vbox'"),
    ("esx://vcenter/", "'esx'"),
    ("QEMU:///system", "'QEMU'"),
    ("qemu+ext:///system?command=/usr/bin/nc", "'qemu+ext'"),
    ("qemu+ssh://host/system?command=/bin/sh", "'command'"),
    ("qemu+ssh://host/system?netcat=/tmp/evil", "'netcat'"),
    ("qemu+ssh://host/system?NETCAT=/tmp/evil", "'netcat'"),
    ("qemu+ssh://host/system?%63ommand=/tmp/x.sh", "'command'"),
    ("qemu+ssh://host/system?name=ext:///x", "'name'"),
    ("qemu+ssh://host/system?authfile=/etc/shadow", "'authfile'"),
    # libvirt splits on ';' where no '&' follows: these hide a second parameter in a value.
    (f"qemu+ssh://h/system?keyfile={HOME}/.ssh/k;command=/tmp/x.sh", "';'"),
    ("test+unix:///default?socket=/run/libvirt/x;socket=/tmp/evil.sock", "';'"),
    (f"qemu+ssh://h/system?no_tty=1&keyfile={HOME}/.ssh/k;netcat=/tmp/x", "';'"),
    ("qemu+libssh2://h/system?sshauth=agent;known_hosts=/root/.bashrc", "';'"),
    ("qemu+ssh://h/system?keyfile%3D/tmp/k", "value"),
    ("qemu+unix:///system?socket=/tmp/evil-sock", "socket"),
    ("qemu+unix:///system?socket=/run/libvirt/../../tmp/x", "socket"),
    ("qemu+unix:///system?socket=/run/libvirt/%2e%2e/%2e%2e/tmp/x", "socket"),
    ("qemu+unix:///system?socket=relative/sock", "socket"),
    ("qemu+unix:///system?socket=/run/libvirt/s%00/../../../tmp/x", "control"),
    ("qemu+tcp://host/system?socket=/run/libvirt/libvirt-sock", "socket"),
    ("qemu:///system?tls_priority=NONE", "'tls_priority'"),
    ("qemu+tls://h/system?tls_priority=%27NORMAL%27", "tls_priority"),
    ("qemu:///system?foo=bar", "'foo'"),
    ("qemu:///system?no_sanity=1", "'no_sanity'"),
    (f"qemu+ssh://host/system?keyfile={HOME}/.ssh/a&keyfile={HOME}/.ssh/b", "twice"),
    (f"qemu+ssh://host/system?keyfile={HOME}/.ssh/a&KEYFILE=/tmp/b", "twice"),
    ("qemu+ssh://host/system?no_verify=yes", "no_verify"),
    ("qemu+ssh://host/system?no_verify", "value"),
    ("qemu+ssh://host/system?=1", "nameless"),
    ("qemu+ssh://host/system?no_tty=1&&no_verify=1", "empty"),
    ("qemu+ssh://host/system?", "empty query"),
    ("qemu+libssh2://host/system?sshauth=gssapi", "sshauth"),
    ("qemu+ssh://host/system?keyfile=~/.ssh/id", "keyfile"),
    ("qemu+ssh://host/system?keyfile=/etc/ssh/ssh_host_ed25519_key", "keyfile"),
    (f"qemu+ssh://host/system?keyfile={HOME}/.ssh/../../../etc/shadow", "keyfile"),
    (f"qemu+ssh://host/system?keyfile={HOME}/.sshevil/k", "keyfile"),
    (f"qemu+ssh://host/system?keyfile={HOME}/.ssh/k%", "'%'"),
    (f"qemu+ssh://host/system?keyfile={HOME}/.ssh/k%zz", "'%'"),
    (f"qemu+ssh://host/system?keyfile={HOME}/.ssh/%ff", "UTF-8"),
    ("qemu+tls://host/system?pkipath=/tmp/pki", "pkipath"),
    (f"qemu+ssh://host/system?known_hosts={HOME}/.ssh/known_hosts", "libssh2"),
    ("qemu+libssh2://h/system?known_hosts=/etc/cron.d/x", "known_hosts"),
    (f"qemu+libssh2://h/system?known_hosts={HOME}/.ssh/kh&known_hosts_verify=auto", "verify"),
    ("qemu+libssh2://root@kvm1/system?known_hosts_verify=auto", "known_hosts_verify"),
    ("qemu+tls://h/system?keyfile=/etc/pki/libvirt/k", "'tls'"),
    ("qemu+ssh://root:hunter2@host/system", "password"),
    ("qemu+ssh://ro ot@host/system", "whitespace"),
    ("qemu+ssh://ro%20ot@host/system", "user name"),
    ("qemu+ssh://a@b@host/system", "'@'"),
    ("qemu+ssh://host/system\n", "control"),
    ("qemu+ssh://-oProxyCommand=x/system", "host"),
    ("qemu+ssh://host;rm/system", "';'"),
    ("qemu+ssh://ho%73t/system", "host"),
    ("qemu+ssh://[::1/system", "host"),
    ("qemu+ssh://[fe80::1%25eth0]/system", "IPv6"),
    ("qemu+ssh://[::g]/system", "IPv6"),
    ("qemu+ssh://host:99999/system", "port"),
    ("qemu+ssh://host:/system", "port"),
    ("qemu+ssh://root:hunter2/system", "port"),
    ("qemu+ssh://host/system#frag", "fragment"),
    ("qemu+ssh://host\\x/system", "'\\\\'"),
    ("qemu:///system?mode=direct%3Bcommand=x", "'mode'"),
    ("qemu:///etc/passwd", "path"),
    ("qemu:///%73ystem/../etc", "path"),
    ("qemu://host/", "path"),
    ("qemu+unix://host/system", "local transport"),
    ("test:///default?socket=/run/libvirt/libvirt-sock", "'inprocess'"),
    ("test:///../etc/shadow", "path"),
    ("test:///etc/shadow", "path"),
    ("test:///root/secret.xml", "must be in"),
    ("test+unix:///etc/libvirt/secret.xml", "must be in"),
    ("system", "form"),
    ("", "empty"),
    ("qemu:///system?" + "a" * 3000, "longer"),
]


@pytest.mark.parametrize(("uri", "named"), REFUSED)
def test_hostile_uris_are_refused_with_the_offending_part_named(uri: str, named: str) -> None:
    with pytest.raises(UriPolicyError) as info:
        check_uri(uri)
    assert named in str(info.value)
    assert info.value.field == "uri"
    assert "hunter2" not in str(info.value)


def test_test_driver_can_be_disabled() -> None:
    for uri in ("test:///default", "test+unix:///default"):
        with pytest.raises(UriPolicyError, match="disabled"):
            check_uri(uri, allow_test=False)
    assert check_uri("qemu:///system", allow_test=False) == "qemu:///system"


def test_extra_socket_dirs_allow_a_private_daemon() -> None:
    uri = "test+unix:///default?socket=/srv/vmt/run/libvirt/libvirt-sock"
    with pytest.raises(UriPolicyError):
        check_uri(uri)
    assert check_uri(uri, extra_socket_dirs=["/srv/vmt/run"]) == uri
    with pytest.raises(UriPolicyError):
        check_uri(
            uri.replace("/srv/vmt/run", "/srv/vmt/running"), extra_socket_dirs=["/srv/vmt/run"]
        )


def test_user_runtime_dir_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    uri = "qemu+unix:///session?socket=/run/user/1000/libvirt/virtqemud-sock"
    assert check_uri(uri) == uri


def test_key_and_test_dirs_can_be_configured() -> None:
    key_uri = "qemu+ssh://h/system?keyfile=/var/lib/vmt/id_ed25519"
    with pytest.raises(UriPolicyError, match="keyfile"):
        check_uri(key_uri)
    assert check_uri(key_uri, extra_key_dirs=["/var/lib/vmt"]) == key_uri
    node = "test:///srv/nodes/lab.xml"
    with pytest.raises(UriPolicyError, match="must be in"):
        check_uri(node)
    assert check_uri(node, test_dirs=["/srv/nodes"]) == node
    # test:///default needs no directory, but an empty list refuses every node file.
    strict = UriPolicy(test_dirs=())
    assert strict.check("test:///default") == "test:///default"
    with pytest.raises(UriPolicyError, match="configure one"):
        strict.check("test:///tmp/node.xml")


@pytest.mark.parametrize(
    ("uri", "params"),
    [
        ("qemu:///system", ()),
        ("qemu:///system?Mode=legacy", (("mode", "legacy"),)),
        # No '+'-to-space: libvirt's unescaping does not do it, unlike parse_qsl.
        (
            "qemu+tls://h/system?tls_priority=NORMAL:+VERS-TLS1.3",
            (("tls_priority", "NORMAL:+VERS-TLS1.3"),),
        ),
        ("qemu+ssh://h/system?keyfile=/a%2Fb&no_tty=1", (("keyfile", "/a/b"), ("no_tty", "1"))),
    ],
)
def test_split_reads_the_query_as_libvirt_does(
    uri: str, params: tuple[tuple[str, str], ...]
) -> None:
    assert split_libvirt_uri(uri).params == params


def test_split_names_the_transport_libvirt_uses() -> None:
    assert split_libvirt_uri("qemu:///system").transport == "unix"
    assert split_libvirt_uri("qemu://kvm1/system").transport == "tls"
    assert split_libvirt_uri("test:///default").transport == "inprocess"
    parts = split_libvirt_uri("qemu+ssh://ops@[::1]:2222/system")
    assert (parts.transport, parts.user, parts.host, parts.port) == ("ssh", "ops", "::1", 2222)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("qemu+ssh://root:hunter2@host/system", "qemu+ssh://root:***@host/system"),
        (
            "qemu+ssh://host/system?token=s3cret&keyfile=/k",
            "qemu+ssh://host/system?token=***&keyfile=/k",
        ),
        ("test:///default", "test:///default"),
        ("qemu:///system", "qemu:///system"),
        (
            "qemu+ssh://h/system?keyfile=/k;password=s3cret",
            "qemu+ssh://h/system?keyfile=/k&password=***",
        ),
        ("qemu+ssh://h/system?%6Beyfile=s3cret", "qemu+ssh://h/system?%6Beyfile=***"),
    ],
)
def test_redact_uri_hides_secrets(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
