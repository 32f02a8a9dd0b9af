"""The URI policy: what may be opened, what is refused, and why."""

from __future__ import annotations

import pytest

from virtumancer import UriPolicyError, check_uri, redact_uri

ALLOWED = [
    "qemu:///system",
    "qemu:///session",
    "qemu+unix:///system",
    "qemu+unix:///system?socket=/run/libvirt/libvirt-sock",
    "qemu+unix:///system?socket=/var/run/libvirt/virtqemud-sock",
    "qemu+ssh://root@kvm1.example.com/system",
    "qemu+ssh://root@127.0.0.1:2222/system?keyfile=/var/lib/virtumancer-test/id_ed25519&no_verify=1",
    "qemu+ssh://admin@[2001:db8::1]:22/system?known_hosts=/etc/ssh/known&sshauth=privkey,agent",
    "qemu+libssh2://root@kvm1/system?known_hosts_verify=auto",
    "qemu+tls://kvm1.example.com/system?pkipath=/etc/pki/libvirt",
    "qemu+tcp://10.0.0.5:16509/system",
    "qemu://kvm1.example.com/system",
    "qemu+ssh://kvm1/system?mode=direct&proxy=native&no_tty=1",
    "test:///default",
    "test:///tmp/vmt-node/node.xml",
    "test+unix:///default",
    "test+unix:///tmp/vmt-node/node.xml",
]


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
    ("qemu+ext:///system?command=/usr/bin/nc", "'qemu+ext'"),
    ("qemu+ssh://host/system?command=/bin/sh", "'command'"),
    ("qemu+ssh://host/system?netcat=/tmp/evil", "'netcat'"),
    ("qemu+ssh://host/system?NETCAT=/tmp/evil", "'netcat'"),
    ("qemu+ssh://host/system?name=ext:///x", "'name'"),
    ("qemu+unix:///system?socket=/tmp/evil-sock", "socket"),
    ("qemu+unix:///system?socket=/run/libvirt/../../tmp/x", "socket"),
    ("qemu+unix:///system?socket=relative/sock", "socket"),
    ("qemu+tcp://host/system?socket=/run/libvirt/libvirt-sock", "socket"),
    ("qemu:///system?tls_priority=NONE", "'tls_priority'"),
    ("qemu:///system?foo=bar", "'foo'"),
    ("qemu+ssh://host/system?keyfile=/a&keyfile=/b", "twice"),
    ("qemu+ssh://host/system?no_verify=yes", "no_verify"),
    ("qemu+ssh://host/system?sshauth=gssapi", "sshauth"),
    ("qemu+ssh://host/system?keyfile=~/.ssh/id", "keyfile"),
    ("qemu+libssh2://h/system?known_hosts=/etc/cron.d/x&known_hosts_verify=auto", "known_hosts"),
    ("qemu+ssh://root:hunter2@host/system", "password"),
    ("qemu+ssh://ro ot@host/system", "whitespace"),
    ("qemu+ssh://host/system\n", "control"),
    ("qemu+ssh://-oProxyCommand=x/system", "host"),
    ("qemu+ssh://host;rm/system", "host"),
    ("qemu+ssh://host:99999/system", "port"),
    ("qemu+ssh://root:hunter2/system", "port"),
    ("qemu+ssh://host/system#frag", "fragment"),
    ("qemu:///etc/passwd", "path"),
    ("qemu://host/", "path"),
    ("qemu+unix://host/system", "local transport"),
    ("test:///../etc/shadow", "path"),
    ("test:///etc/shadow", "path"),
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
    ],
)
def test_redact_uri_hides_secrets(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
