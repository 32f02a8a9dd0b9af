"""``virtumancer vms create|delete|clone`` and ``snapshots ...`` as a user runs them.

Each check runs the real console script in a new process against libvirtd's default test
node (``test+unix:///default``), held open by the test so what one process made the next one
sees, and compares with what the library reads from the same host.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import virtumancer
from tests.cli._support import DEFAULT_UNIX, Run
from virtumancer.testing import virsh

POOL = "default-pool"
MIB = 1024 * 1024

pytestmark = pytest.mark.libvirt


@pytest.fixture
def host(libvirtd: str) -> Iterator[virtumancer.SyncHost]:
    """Hold the default test node open; remove the VMs and volumes a test made, after."""
    prefix = "vmt-cli-"
    with virtumancer.connect(DEFAULT_UNIX) as connected:
        before = {volume.name for volume in connected.storage_volumes(POOL)}
        try:
            yield connected
        finally:
            for domain in connected.domains():
                if domain.name.startswith(prefix):
                    connected.delete_vm(domain.uuid, force=True, delete_storage=True)
            for volume in connected.storage_volumes(POOL):
                if volume.name not in before:
                    connected.delete_volume(POOL, volume.name)


def _name() -> str:
    return f"vmt-cli-{secrets.token_hex(3)}"


def _json(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _library(value: Any) -> Any:
    return json.loads(json.dumps(virtumancer.make_converter().unstructure(value)))


def _volumes(host: virtumancer.SyncHost) -> set[str]:
    return {volume.path or volume.name for volume in host.storage_volumes(POOL)}


def test_a_vm_from_create_to_delete_with_its_storage(
    run: Run, host: virtumancer.SyncHost, tmp_path: Path
) -> None:
    source, copy = _name(), _name()
    spec = tmp_path / "vm.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "overridden-below",
                "memory_bytes": 64 * MIB,
                "disks": [{"kind": "new_volume", "pool": POOL, "size_bytes": MIB}],
                "description": "made by the CLI test",
            }
        )
    )
    made = _json(
        run("vms", "create", "-f", str(spec), "--name", source, "--vcpus", "2", "-c", DEFAULT_UNIX,
            "-o", "json")
    )  # fmt: skip
    assert made == _library(host.domain(source))
    assert (made["name"], made["vcpus"], made["memory_bytes"]) == (source, 2, 64 * MIB)
    assert made["description"] == "made by the CLI test"
    (disk,) = made["devices"]["disks"]
    assert disk["path"] in _volumes(host)
    assert _json(run("vms", "show", source, "-c", DEFAULT_UNIX, "-o", "json")) == made

    cloned = _json(run("vms", "clone", source, copy, "--overlay", "-c", DEFAULT_UNIX, "-o", "json"))
    assert cloned == _library(host.domain(copy))
    (clone_disk,) = cloned["devices"]["disks"]
    assert clone_disk["path"] != disk["path"]
    assert clone_disk["path"] in _volumes(host)

    # Two snapshots, one the child of the other; the list is the library's (the REST shape).
    first = _json(run("snapshots", "create", copy, "first", "-c", DEFAULT_UNIX, "-o", "json"))
    assert first["name"] == "first"
    second = run("snapshots", "create", copy, "second", "--description", "later", "-c",
                 DEFAULT_UNIX)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "second" in second.stdout
    listed = _json(run("snapshots", "list", copy, "-c", DEFAULT_UNIX, "-o", "json"))
    assert listed == _library(host.snapshots(copy))
    assert [(s["name"], s["depth"]) for s in listed] == [("first", 0), ("second", 1)]
    tree = run("snapshots", "list", copy, "-c", DEFAULT_UNIX)
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    first_line = next(line for line in lines if "first" in line)
    second_line = next(line for line in lines if "second" in line)
    # A tree: the child is drawn further in than its parent, and the current one is marked.
    assert second_line.index("second") > first_line.index("first")
    assert "(current)" in second_line
    assert "later" in second_line

    reverted = _json(
        run("snapshots", "revert", copy, "first", "--yes", "-c", DEFAULT_UNIX, "-o", "json")
    )
    assert reverted["name"] == copy
    assert [s.name for s in host.snapshots(copy) if s.current] == ["first"]
    deleted = run("snapshots", "delete", copy, "first", "--children", "--yes", "-c", DEFAULT_UNIX)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.split() == ["first", "second"]
    assert host.snapshots(copy) == []

    removed = _json(
        run("vms", "delete", copy, "--delete-storage", "--yes", "-c", DEFAULT_UNIX, "-o", "json")
    )
    assert removed == [clone_disk["path"]]
    assert clone_disk["path"] not in _volumes(host)
    assert disk["path"] in _volumes(host)  # the clone's backing file is the source's
    kept = run("vms", "delete", source, "--keep-storage", "--yes", "-c", DEFAULT_UNIX)
    assert (kept.returncode, kept.stdout) == (0, "")
    assert disk["path"] in _volumes(host)
    assert source not in {domain.name for domain in host.domains()}


def test_delete_asks_first_and_refuses_a_script_without_yes(
    run: Run, host: virtumancer.SyncHost
) -> None:
    name = _name()
    assert (
        run("vms", "create", "--name", name, "--memory", "64M", "-c", DEFAULT_UNIX).returncode == 0
    )
    refused = run("vms", "delete", name, "--delete-storage", "-c", DEFAULT_UNIX)
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr
    assert name in {domain.name for domain in host.domains()}
    host.start(name)
    running = run("vms", "delete", name, "--yes", "-c", DEFAULT_UNIX)
    assert running.returncode == 4
    assert "force" in running.stderr
    forced = run("vms", "delete", name, "--yes", "--force", "-c", DEFAULT_UNIX)
    assert forced.returncode == 0, forced.stderr
    assert name not in {domain.name for domain in host.domains()}


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"name": "vmt-cli-bad", "memory_bytes": "lots"}', ".json", "memory_bytes: invalid type"),
        ('{"name": "vmt-cli-bad", "memory_bytes": 67108864, "cpus": 2}', ".json", "cpus"),
        ("name: [unclosed", ".yaml", "neither JSON nor YAML"),
        ("{not json", ".json", "is not JSON"),
        ("- a list", ".yaml", "must be an object"),
        (
            '{"name": "vmt-cli-bad", "memory_bytes": 67108864, '
            '"disks": [{"kind": "new_volume", "pool": "default-pool", "size_bytes": 0}]}',
            ".json",
            "disks[0].size_bytes",
        ),
    ],
)
def test_a_bad_spec_exits_2_naming_what_is_wrong(
    run: Run, host: virtumancer.SyncHost, tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    spec = tmp_path / f"spec{suffix}"
    spec.write_text(content)
    result = run("vms", "create", "-f", str(spec), "-c", DEFAULT_UNIX)
    assert result.returncode == 2
    assert result.stderr.startswith("virtumancer: ")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
    assert "vmt-cli-bad" not in {domain.name for domain in host.domains()}


def test_a_spec_from_standard_input_and_a_bad_size_flag(
    run: Run, host: virtumancer.SyncHost
) -> None:
    name = _name()
    made = run(
        "vms", "create", "-f", "-", "--memory", "96M", "-c", DEFAULT_UNIX, "-o", "yaml",
        input=json.dumps({"name": name, "memory_bytes": 64 * MIB}),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert yaml.safe_load(made.stdout)["memory_bytes"] == 96 * MIB
    bad = run("vms", "create", "--name", _name(), "--memory", "lots", "-c", DEFAULT_UNIX)
    assert bad.returncode == 2
    assert "is not a size" in bad.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("vms", "delete", "vmt-cli-nobody", "--yes"), 3),
        (("vms", "clone", "vmt-cli-nobody", "vmt-cli-other"), 3),
        (("snapshots", "list", "vmt-cli-nobody"), 3),
        (("snapshots", "create", "vmt-cli-nobody"), 3),
        (("vms", "create", "--name", "test", "--memory", "64M"), 4),  # the node's own VM
        (("vms", "clone", "test", "test"), 4),  # running, and the name is taken
    ],
)
def test_unknown_vms_exit_3_and_names_in_use_exit_4(
    run: Run, host: virtumancer.SyncHost, args: tuple[str, ...], code: int
) -> None:
    result = run(*args, "-c", DEFAULT_UNIX)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("virtumancer: ")
    assert result.stdout == ""


def test_snapshot_errors_keep_their_exit_codes(run: Run, host: virtumancer.SyncHost) -> None:
    name = _name()
    assert (
        run("vms", "create", "--name", name, "--memory", "64M", "-c", DEFAULT_UNIX).returncode == 0
    )
    assert run("snapshots", "create", name, "one", "-c", DEFAULT_UNIX).returncode == 0
    again = run("snapshots", "create", name, "one", "-c", DEFAULT_UNIX)
    assert again.returncode == 4
    assert "already has a snapshot" in again.stderr
    missing = run("snapshots", "revert", name, "nothing", "--yes", "-c", DEFAULT_UNIX)
    assert missing.returncode == 3
    unconfirmed = run("snapshots", "delete", name, "one", "-c", DEFAULT_UNIX)
    assert unconfirmed.returncode == 2
    assert [s.name for s in host.snapshots(name)] == ["one"]


@pytest.fixture
def qemu_pool(libvirtd: str, run_prefix: str, tmp_path: Path) -> Iterator[str]:
    """A transient directory pool on qemu:///system, destroyed with its volumes after."""
    name = f"{run_prefix}cli-pool"
    directory = tmp_path / "pool"
    directory.mkdir()
    virsh(libvirtd, "pool-create-as", name, "dir", "--target", str(directory))
    yield name
    for line in virsh(libvirtd, "vol-list", name, check=False).splitlines()[2:]:
        if line.split():
            virsh(libvirtd, "vol-delete", line.split()[0], "--pool", name, check=False)
    virsh(libvirtd, "pool-destroy", name, check=False)


@pytest.mark.kvm
def test_a_real_vm_is_created_fully_cloned_snapshotted_and_deleted(
    run: Run, libvirtd: str, run_prefix: str, qemu_pool: str
) -> None:
    source, copy = f"{run_prefix}cli-src", f"{run_prefix}cli-copy"
    spec = {
        "name": source,
        "memory_bytes": 64 * MIB,
        "disks": [{"kind": "new_volume", "pool": qemu_pool, "size_bytes": 16 * MIB}],
        "graphics": None,
    }
    try:
        made = run("vms", "create", "-f", "-", "-c", libvirtd, "-o", "json", input=json.dumps(spec))
        assert made.returncode == 0, made.stderr
        full = _json(run("vms", "clone", source, copy, "--full", "-c", libvirtd, "-o", "json"))
        (disk,) = full["devices"]["disks"]
        # A copy, not an overlay on the source's disk.
        assert "<backingStore>" not in virsh(libvirtd, "vol-dumpxml", disk["path"])
        assert run("snapshots", "create", copy, "before", "-c", libvirtd).returncode == 0
        listed = _json(run("snapshots", "list", copy, "-c", libvirtd, "-o", "json"))
        assert [(s["name"], s["state"], s["memory"]) for s in listed] == [
            ("before", "shutoff", False)
        ]
        gone = _json(
            run("vms", "delete", copy, "--delete-storage", "--yes", "-c", libvirtd, "-o", "json")
        )
        assert gone == [disk["path"]]
        assert not Path(disk["path"]).exists()
    finally:
        for name in (copy, source):
            run("vms", "delete", name, "--delete-storage", "--force", "--yes", "-c", libvirtd)
    assert source not in virsh(libvirtd, "list", "--all", "--name")
