"""``virtumancer volumes create|delete`` and ``networks create|start|stop|delete``.

Each check runs the real console script in a new process against libvirtd's default test
node (``test+unix:///default``), held open by the test so what one process made the next one
sees, and compares with what the library reads from the same host.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import virtumancer
from tests.cli._support import DEFAULT_UNIX, Run

POOL = "default-pool"
MIB = 1024 * 1024
#: Not the other CLI tests' prefix: a run of theirs may share the default node meanwhile.
PREFIX = "vmt-clires-"

pytestmark = pytest.mark.libvirt


@pytest.fixture
def host(libvirtd: str) -> Iterator[virtumancer.SyncHost]:
    """Hold the default test node open; remove the volumes and networks a test made, after."""
    with virtumancer.connect(DEFAULT_UNIX) as connected:
        volumes, networks = _volume_names(connected), _network_names(connected)
        try:
            yield connected
        finally:
            for volume in _volume_names(connected) - volumes:
                if volume.startswith(PREFIX):
                    connected.delete_volume(POOL, volume)
            for network in _network_names(connected) - networks:
                if network.startswith(PREFIX):
                    connected.delete_network(network)


def _name() -> str:
    return f"{PREFIX}{secrets.token_hex(3)}"


def _json(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _library(value: Any) -> Any:
    return json.loads(json.dumps(virtumancer.make_converter().unstructure(value)))


def _volume_names(host: virtumancer.SyncHost) -> set[str]:
    return {volume.name for volume in host.storage_volumes(POOL)}


def _network_names(host: virtumancer.SyncHost) -> set[str]:
    return {network.name for network in host.networks()}


def test_a_volume_from_create_to_delete(run: Run, host: virtumancer.SyncHost) -> None:
    name = _name()
    made = _json(
        run("volumes", "create", POOL, name, "--capacity", "16M", "--format", "raw",
            "-c", DEFAULT_UNIX, "-o", "json")
    )  # fmt: skip
    assert made == _library(host.volume(POOL, name))
    assert (made["capacity_bytes"], made["format"], made["pool_name"]) == (16 * MIB, "raw", POOL)
    # The listing, bare and as `list`, shows it.
    assert name in run("volumes", "--pool", POOL, "-c", DEFAULT_UNIX).stdout
    listed = _json(run("volumes", "list", "--pool", POOL, "-c", DEFAULT_UNIX, "-o", "json"))
    assert made in listed

    qcow2 = _name()
    table = run("volumes", "create", POOL, qcow2, "--capacity", "1", "-c", DEFAULT_UNIX)
    assert table.returncode == 0, table.stderr
    assert "qcow2" in table.stdout  # the default format; a bare number is MiB
    assert host.volume(POOL, qcow2).capacity_bytes == MIB

    taken = run("volumes", "create", POOL, name, "--capacity", "1M", "-c", DEFAULT_UNIX)
    assert (taken.returncode, taken.stdout) == (4, "")
    assert taken.stderr.startswith("virtumancer: ")

    refused = run("volumes", "delete", POOL, name, "-c", DEFAULT_UNIX)
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr
    assert name in _volume_names(host)
    deleted = _json(run("volumes", "delete", POOL, name, "--yes", "-c", DEFAULT_UNIX, "-o", "json"))
    assert deleted == [made["path"]]
    assert name not in _volume_names(host)
    gone = run("volumes", "delete", POOL, name, "--yes", "-c", DEFAULT_UNIX)
    assert (gone.returncode, gone.stdout) == (3, "")
    assert "no volume" in gone.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--capacity", "lots"), 2, "is not a size"),
        (("--capacity", "0"), 2, "size_bytes"),
        (("--capacity", "1M", "--format", "vmdk"), 2, "'vmdk' is not one of"),
        ((), 2, "Missing option '--capacity'"),
        (("--capacity", "1T"), 4, "do not fit"),
    ],
)
def test_a_bad_volume_is_refused_and_nothing_is_made(
    run: Run, host: virtumancer.SyncHost, args: tuple[str, ...], code: int, message: str
) -> None:
    name = _name()
    result = run("volumes", "create", POOL, name, *args, "-c", DEFAULT_UNIX)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert name not in _volume_names(host)


def test_a_volume_in_no_such_pool_is_bad_input(run: Run, host: virtumancer.SyncHost) -> None:
    # The library's answer for a pool named in a request (the REST API's too): bad input.
    result = run("volumes", "create", "no-such-pool", _name(), "--capacity", "1M", "-c",
                 DEFAULT_UNIX)  # fmt: skip
    assert result.returncode == 2
    assert "no storage pool 'no-such-pool'" in result.stderr


def test_a_network_from_create_to_delete(run: Run, host: virtumancer.SyncHost) -> None:
    name = _name()
    made = _json(
        run("networks", "create", name, "--address", "10.77.0.1", "--prefix", "24",
            "--dhcp-start", "10.77.0.100", "--dhcp-end", "10.77.0.200", "--autostart",
            "-c", DEFAULT_UNIX, "-o", "json")
    )  # fmt: skip
    assert made == _library(host.network(name))
    assert (made["active"], made["autostart"], made["forward_mode"]) == (False, True, "nat")
    assert made in _json(run("networks", "list", "-c", DEFAULT_UNIX, "-o", "json"))

    started = yaml.safe_load(
        run("networks", "start", name, "-c", DEFAULT_UNIX, "-o", "yaml").stdout
    )
    assert started == _library(host.network(name))
    assert started["active"] is True
    again = run("networks", "start", name, "-c", DEFAULT_UNIX)
    assert (again.returncode, again.stdout) == (4, "")
    assert "already active" in again.stderr
    stopped = _json(run("networks", "stop", name, "-c", DEFAULT_UNIX, "-o", "json"))
    assert stopped["active"] is False

    # Created running, then deleted while it runs.
    running = _name()
    table = run("networks", "create", running, "--address", "10.78.0.1", "--start", "-c",
                DEFAULT_UNIX)  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert running in table.stdout
    assert host.network(running).active is True
    refused = run("networks", "delete", running, "-c", DEFAULT_UNIX)
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr
    assert running in _network_names(host)
    for network in (name, running):
        deleted = run("networks", "delete", network, "--yes", "-c", DEFAULT_UNIX)
        assert (deleted.returncode, deleted.stdout.strip()) == (0, network), deleted.stderr
    assert not {name, running} & _network_names(host)
    missing = run("networks", "stop", name, "-c", DEFAULT_UNIX)
    assert (missing.returncode, missing.stdout) == (3, "")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--address", "bogus"), 2, "address:"),
        (("--address", "10.79.0.1", "--dhcp-start", "10.80.0.5"), 2, "dhcp_start"),
        (("--address", "10.79.0.1", "--prefix", "40"), 2, "--prefix"),
        ((), 2, "Missing option '--address'"),
    ],
)
def test_a_bad_network_is_refused_and_nothing_is_defined(
    run: Run, host: virtumancer.SyncHost, args: tuple[str, ...], code: int, message: str
) -> None:
    name = _name()
    result = run("networks", "create", name, *args, "-c", DEFAULT_UNIX)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert name not in _network_names(host)


def test_a_network_name_in_use_is_a_conflict(run: Run, host: virtumancer.SyncHost) -> None:
    name = _name()
    assert run("networks", "create", name, "--address", "10.81.0.1", "-c",
               DEFAULT_UNIX).returncode == 0  # fmt: skip
    before = host.network(name)
    clash = run("networks", "create", name, "--address", "10.82.0.1", "-c", DEFAULT_UNIX)
    assert (clash.returncode, clash.stdout) == (4, "")
    assert "already exists" in clash.stderr
    assert host.network(name) == before


def test_completion_offers_the_new_commands(run: Run) -> None:
    for group, expected in (
        ("volumes", {"create", "delete", "list"}),
        ("networks", {"create", "delete", "list", "start", "stop"}),
    ):
        env = {
            "_VIRTUMANCER_COMPLETE": "bash_complete",
            "COMP_WORDS": f"virtumancer {group} ",
            "COMP_CWORD": "2",
        }
        completed = run(env=env)
        assert completed.returncode == 0
        offered = {line.split(",", 1)[1] for line in completed.stdout.splitlines()}
        assert expected <= offered
    env = {"_VIRTUMANCER_COMPLETE": "bash_complete", "COMP_WORDS": "virtumancer imp",
           "COMP_CWORD": "1"}  # fmt: skip
    assert "plain,import" in run(env=env).stdout.splitlines()
