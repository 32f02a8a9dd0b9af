"""``virtumancer hosts|vms|pools|volumes|networks|console-url`` as a user runs them.

Every check runs the real console script in a new process against libvirt's test driver, in
process (``test:///PATH``) and through libvirtd (``test+unix://``), and reads what a script
would: standard output, standard error and the exit code (docs/cli.md).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import virtumancer
from tests.cli._support import DEFAULT_UNIX, Run
from virtumancer.testing import virsh

#: Nothing listens on port 1: a refused connection, at once.
UNREACHABLE = "qemu+tcp://127.0.0.1:1/system"


@pytest.fixture(params=["test_uri", "test_unix_uri"])
def node_uri(request: pytest.FixtureRequest) -> str:
    """A 10-domain test node, in process and through libvirtd."""
    uri: str = request.getfixturevalue(request.param)
    return uri


def _library(uri: str, read: Callable[[virtumancer.SyncHost], Any]) -> Any:
    with virtumancer.connect(uri) as host:
        return json.loads(json.dumps(virtumancer.make_converter().unstructure(read(host))))


def _volume_key(volume: virtumancer.StorageVolume) -> tuple[str, str]:
    return (volume.pool_name or "", volume.name)


READS: dict[tuple[str, ...], Callable[[virtumancer.SyncHost], Any]] = {
    ("vms", "list"): lambda host: sorted(host.domains(), key=lambda d: d.name),
    ("vms", "show", "guest-0003"): lambda host: host.domain("guest-0003"),
    ("pools",): lambda host: sorted(host.storage_pools(), key=lambda p: p.name),
    ("volumes",): lambda host: sorted(host.storage_volumes(), key=_volume_key),
    ("volumes", "--pool", "guest-pool0"): lambda host: sorted(
        host.storage_volumes("guest-pool0"), key=_volume_key
    ),
    ("networks",): lambda host: sorted(host.networks(), key=lambda n: n.name),
}


@pytest.mark.parametrize("command", list(READS), ids=" ".join)
def test_json_and_yaml_are_the_librarys_shapes(
    run: Run, node_uri: str, command: tuple[str, ...]
) -> None:
    expected = _library(node_uri, READS[command])
    as_json = run(*command, "-c", node_uri, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == expected
    as_yaml = run(*command, "-c", node_uri, "-o", "yaml")
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout) == expected
    assert expected  # the node has something of each kind


def test_tables_show_what_a_person_looks_for(run: Run, node_uri: str) -> None:
    listed = run("vms", "list", "-c", node_uri)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "STATE", "VCPUS"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:] if line.strip()}
    assert rows == {f"guest-{i:04d}": "running" if i < 5 else "shutoff" for i in range(10)}
    shown = run("vms", "show", "guest-0007", "-c", node_uri).stdout
    assert "guest-0007" in shown
    assert "shutoff" in shown
    assert "guest-pool0" in run("pools", "-c", node_uri).stdout
    assert "guest-pool1-vol0.qcow2" in run("volumes", "-c", node_uri).stdout
    assert "guest-net0" in run("networks", "-c", node_uri).stdout


def test_hosts_is_the_apis_host_info(run: Run, node_uri: str) -> None:
    as_json = run("hosts", "-c", node_uri, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    with virtumancer.connect(node_uri) as host:
        expected = virtumancer.host_info_payload(host.info())
    assert json.loads(as_json.stdout) == expected
    table = run("hosts", "-c", node_uri).stdout
    assert "HOSTNAME" in table
    assert str(expected["hostname"]) in table


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("vms", "show", "nobody"), 3, "not found"),
        (("vms", "start", "guest-0000"), 4, "already running"),  # running
        (("vms", "resume", "guest-0008"), 4, ""),  # shut off, not paused
        (("console-url", "guest-0000"), 4, "test driver"),
        (("volumes", "--pool", "no-such-pool"), 3, ""),
    ],
)
def test_exit_codes_of_library_errors(
    run: Run, node_uri: str, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run(*args, "-c", node_uri)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("virtumancer: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_host_exits_5(run: Run) -> None:
    result = run("vms", "list", "-c", UNREACHABLE, "-o", "json")
    assert result.returncode == 5
    assert "127.0.0.1:1" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vms", "list", "-c", "bogus:///x"), "URI refused"),
        (("vms", "list", "-c", "test:///default", "-o", "xml"), "'xml' is not one of"),
        (("vms", "list"), "no libvirt URI"),
        (("vms", "frobnicate", "-c", "test:///default"), "No such command"),
        (("vms", "start", "-c", "test:///default"), "Missing argument"),
    ],
)
def test_bad_input_exits_2(run: Run, args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_the_uri_comes_from_option_then_environment_then_config(run: Run, tmp_path: Path) -> None:
    def names(result: subprocess.CompletedProcess[str]) -> list[str]:
        assert result.returncode == 0, result.stderr
        return [domain["name"] for domain in json.loads(result.stdout)]

    (tmp_path / "config.toml").write_text('uri = "test:///default"\n')
    assert names(run("vms", "list", "-o", "json")) == ["test"]
    env = {"LIBVIRT_DEFAULT_URI": UNREACHABLE}
    assert run("vms", "list", "-o", "json", env=env).returncode == 5
    env["VIRTUMANCER_URI"] = "test:///default"
    assert names(run("vms", "list", "-o", "json", env=env)) == ["test"]
    env["VIRTUMANCER_URI"] = UNREACHABLE
    assert names(run("vms", "list", "-o", "json", "-c", "test:///default", env=env)) == ["test"]


@pytest.fixture
def default_unix(libvirtd: str) -> Iterator[Callable[[], str]]:
    """Define shut-off domains on ``test+unix:///default``; return ``define()``.

    libvirtd keeps the default test node only while a connection to it is open: one is held
    here, so the domains live across the CLI's own connections. They are undefined after.
    """
    names: list[str] = []

    def define() -> str:
        name = f"vmt-cli-{secrets.token_hex(3)}"
        path = Path(f"/tmp/{name}.xml")
        path.write_text(
            f"<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory>"
            "<vcpu>1</vcpu><os><type>hvm</type></os></domain>"
        )
        virsh(DEFAULT_UNIX, "define", str(path))
        path.unlink()
        names.append(name)
        return name

    with virtumancer.connect(DEFAULT_UNIX):
        try:
            yield define
        finally:
            for name in names:
                virsh(DEFAULT_UNIX, "destroy", name, check=False)
                virsh(DEFAULT_UNIX, "undefine", name, check=False)


def _state(run: Run, name: str) -> str:
    result = run("vms", "show", name, "-c", DEFAULT_UNIX, "-o", "json")
    assert result.returncode == 0, result.stderr
    return virtumancer.DomainState(json.loads(result.stdout)["state"]).name


@pytest.mark.libvirt
def test_power_commands_drive_a_vm_through_its_states(
    run: Run, default_unix: Callable[[], str]
) -> None:
    defined_vm = default_unix()
    steps = [
        ("start", "RUNNING"),
        ("suspend", "PAUSED"),
        ("resume", "RUNNING"),
        ("reboot", "RUNNING"),
        ("reset", "RUNNING"),
        ("shutdown", "SHUTOFF"),
        ("start", "RUNNING"),
        ("destroy", "SHUTOFF"),
    ]
    for action, state in steps:
        result = run("vms", action, defined_vm, "-c", DEFAULT_UNIX)
        assert result.returncode == 0, (action, result.stderr)
        assert result.stdout == ""
        assert _state(run, defined_vm) == state, action
    again = run("vms", "destroy", defined_vm, "-c", DEFAULT_UNIX)
    assert again.returncode == 4  # conflict: it is off already


@pytest.mark.libvirt
def test_many_vms_at_once_draw_no_progress_bar_into_a_pipe(
    run: Run, default_unix: Callable[[], str]
) -> None:
    names = [default_unix() for _ in range(3)]
    result = run("vms", "start", *names, "-c", DEFAULT_UNIX)
    assert result.returncode == 0, result.stderr
    # Not a terminal: no bar, no escape sequences, nothing at all.
    assert result.stderr == ""
    assert result.stdout == ""
    assert {_state(run, name) for name in names} == {"RUNNING"}


@pytest.mark.kvm
def test_console_url_of_a_real_guest(run: Run, kvm_guest: Any) -> None:
    result = run("console-url", kvm_guest.name, "-c", "qemu:///system")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("vnc://127.0.0.1:")
    assert int(url.rsplit(":", 1)[1]) >= 5900
    spice = run(
        "console-url", kvm_guest.name, "--kind", "spice", "-c", "qemu:///system", "-o", "json"
    )
    assert spice.returncode == 0, spice.stderr
    payload = json.loads(spice.stdout)
    assert payload["url"].startswith("spice://")
    assert payload["kind"] == "spice"
    assert payload["route"] == "local"


def test_version_help_and_completion(run: Run) -> None:
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"virtumancer, version {virtumancer.__version__}"
    helped = run("--help")
    for command in ("serve", "token", "hosts", "vms", "pools", "volumes", "networks"):
        assert command in helped.stdout
    script = run("completion", "bash")
    assert script.returncode == 0
    assert "_VIRTUMANCER_COMPLETE=bash_complete" in script.stdout
    assert "complete -o nosort -F" in script.stdout
    for shell in ("zsh", "fish"):
        assert "_VIRTUMANCER_COMPLETE" in run("completion", shell).stdout
    # The script's other half: the CLI answers a completion request.
    env = {
        "_VIRTUMANCER_COMPLETE": "bash_complete",
        "COMP_WORDS": "virtumancer vms sh",
        "COMP_CWORD": "2",
    }
    completed = run(env=env)
    assert completed.returncode == 0
    assert "plain,show" in completed.stdout.splitlines()
    assert "plain,shutdown" in completed.stdout.splitlines()


def test_listing_vms_as_json_loads_no_database_web_stack_or_event_loop() -> None:
    probe = textwrap.dedent(
        """
        import json, sys, threading
        from virtumancer_server.cli import main
        code = main(["vms", "list", "-c", "test:///default", "-o", "json"])
        threads = [thread.name for thread in threading.enumerate()]
        print(json.dumps({"code": code, "modules": sorted(sys.modules), "threads": threads}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0
    heavy = ("sqlalchemy", "alembic", "falcon", "uvicorn", "asyncssh", "rich", "yaml")
    loaded = [m for m in report["modules"] if m.split(".")[0] in heavy]
    assert loaded == []
    # A one-shot call runs no libvirt event loop (each RPC would hand its socket to it).
    assert "virtumancer-libvirt-events" not in report["threads"]
