"""Clones and volume copies as tasks through the API: 202, ``GET /tasks/{id}``, cancel, host lost.

The quick cases run on the test driver; a full copy, its cancellation and the loss of the
host during it run on qemu:///system with a volume of a few hundred MiB of data.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import falcon.testing
import pytest

from virtumancer.testing import virsh

from ..conftest import QEMU_URI, _remove_guest
from .conftest import AUTH
from .test_vm_lifecycle_api import _add_lab, _spec

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor
MIB = 1024 * 1024
_WAIT_S = 120.0


async def _task_until(client: Conductor, task_id: str, done: Any, what: str) -> dict[str, Any]:
    """Poll the task until ``done(task)``; fail after a generous deadline."""
    with anyio.fail_after(_WAIT_S):
        while True:
            got = await client.simulate_get(f"/api/v1/tasks/{task_id}", headers=AUTH)
            assert got.status_code == 200, got.text
            if done(got.json):
                return got.json  # type: ignore[no-any-return]
            await anyio.sleep(0.02)
    raise AssertionError(what)


def _finished(task: dict[str, Any]) -> bool:
    return task["state"] in ("succeeded", "failed", "cancelled")


async def test_an_overlay_clone_is_a_task_whose_result_is_the_managed_clone(
    client: Conductor, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    created = await client.simulate_post("/api/v1/hosts/lab/vms", headers=AUTH, json=_spec("src"))
    assert created.status_code == 201, created.text
    started = await client.simulate_post(
        "/api/v1/hosts/lab/vms/src/clone", headers=AUTH, json={"name": "dst"}
    )
    assert started.status_code == 202, started.text
    assert started.json["kind"] == "clone"
    task = await _task_until(client, started.json["id"], _finished, "the clone")
    assert task["state"] == "succeeded", task
    assert task["result"]["name"] == "dst"
    listed = await client.simulate_get("/api/v1/hosts/lab/vms", headers=AUTH)
    assert "dst" in [vm["name"] for vm in listed.json]
    # Finished: nothing to cancel.
    late = await client.simulate_delete(f"/api/v1/tasks/{task['id']}", headers=AUTH)
    assert late.status_code == 409
    unknown = await client.simulate_get("/api/v1/tasks/0123456789abcdef", headers=AUTH)
    assert unknown.status_code == 404
    taken = await client.simulate_post(
        "/api/v1/hosts/lab/vms/src/clone", headers=AUTH, json={"name": "dst"}
    )
    assert taken.status_code == 409
    assert taken.json["error"]["field"] == "name"
    missing = await client.simulate_post(
        "/api/v1/hosts/lab/vms/src/clone", headers=AUTH, json={"full_copy": True}
    )
    assert missing.status_code == 400
    assert missing.json["error"]["field"] == "name"


@pytest.fixture
def big_source(run_prefix: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A shut-off VM on qemu:///system whose 1 GiB disk holds 768 MiB of data."""
    pool, name = f"{run_prefix}tpool", f"{run_prefix}big"
    with _filled_pool(pool, tmp_path / "pool", f"{name}.qcow2") as disk:
        xml = tmp_path / "big.xml"
        xml.write_text(
            f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
            f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
        )
        virsh(QEMU_URI, "define", str(xml))
        try:
            yield pool, name
        finally:
            _remove_guest(name)
            _remove_guest(f"{name}-copy")


@contextlib.contextmanager
def _filled_pool(pool: str, directory: Path, volume: str) -> Iterator[Path]:
    """A dir pool on qemu:///system with a 1 GiB qcow2 ``volume`` holding 768 MiB of data."""
    directory.mkdir()
    directory.parent.chmod(0o755)
    virsh(QEMU_URI, "pool-create-as", pool, "dir", "--target", str(directory))
    disk = directory / volume
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"], check=True)
        subprocess.run(
            ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 768M", str(disk)],
            check=True,
            capture_output=True,
        )
        virsh(QEMU_URI, "pool-refresh", pool)
        yield disk
    finally:
        for line in virsh(QEMU_URI, "vol-list", pool, check=False).splitlines():
            if line.split():
                virsh(QEMU_URI, "vol-delete", line.split()[0], "--pool", pool, check=False)
        virsh(QEMU_URI, "pool-destroy", pool, check=False)


def _volumes(pool: str) -> list[str]:
    lines = virsh(QEMU_URI, "vol-list", pool).splitlines()
    return sorted(line.split()[0] for line in lines if line.split())


async def _add_kvm_host(client: Conductor) -> None:
    added = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "kvm", "uri": QEMU_URI}
    )
    assert added.status_code == 200, added.text


async def _start_full_copy(client: Conductor, name: str) -> dict[str, Any]:
    await _add_kvm_host(client)
    imported = await client.simulate_post(f"/api/v1/hosts/kvm/vms/{name}/import", headers=AUTH)
    assert imported.status_code == 202, imported.text
    started = await client.simulate_post(
        f"/api/v1/hosts/kvm/vms/{name}/clone",
        headers=AUTH,
        json={"name": f"{name}-copy", "full_copy": True},
    )
    assert started.status_code == 202, started.text
    # Not waiting for progress: the host copies 768 MiB in well under a second, and its
    # progress is polled every 0.2 s; acting at once is what finds the copy still going.
    task: dict[str, Any] = started.json
    return task


@pytest.mark.kvm
async def test_a_full_copy_clone_is_cancelled_and_leaves_nothing(
    client: Conductor, big_source: tuple[str, str]
) -> None:
    pool, name = big_source
    running = await _start_full_copy(client, name)
    cancelled = await client.simulate_delete(f"/api/v1/tasks/{running['id']}", headers=AUTH)
    assert cancelled.status_code == 202, cancelled.text
    task = await _task_until(client, running["id"], _finished, "the cancellation")
    assert task["state"] == "cancelled", task
    assert _volumes(pool) == [f"{name}.qcow2"]
    assert f"{name}-copy" not in virsh(QEMU_URI, "list", "--all", "--name").split()


@pytest.mark.kvm
async def test_a_host_lost_during_a_full_copy_fails_the_task(
    client: Conductor, big_source: tuple[str, str]
) -> None:
    pool, name = big_source
    running = await _start_full_copy(client, name)
    lost = await client.simulate_post("/api/v1/hosts/kvm/disconnect", headers=AUTH)
    assert lost.status_code in (200, 202), lost.text
    task = await _task_until(client, running["id"], _finished, "the failure")
    assert task["state"] == "failed", task
    assert task["error_code"] == "host_unavailable"
    assert _volumes(pool) == [f"{name}.qcow2"]


@pytest.fixture
def big_volume(run_prefix: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A pool on qemu:///system with a 1 GiB qcow2 volume holding 768 MiB of data."""
    pool = f"{run_prefix}vpool"
    with _filled_pool(pool, tmp_path / "vpool", "big.qcow2") as disk:
        yield pool, disk.name


async def _start_copy(client: Conductor, pool: str, volume: str) -> dict[str, Any]:
    await _add_kvm_host(client)
    started = await client.simulate_post(
        f"/api/v1/hosts/kvm/storage/pools/{pool}/volumes/{volume}/copy",
        headers=AUTH,
        json={"name": "copy.qcow2"},
    )
    assert started.status_code == 202, started.text
    assert started.json["kind"] == "volume-copy"
    task: dict[str, Any] = started.json
    return task


@pytest.mark.kvm
async def test_a_volume_copy_is_a_task_whose_result_is_the_new_volume(
    client: Conductor, big_volume: tuple[str, str]
) -> None:
    pool, volume = big_volume
    started = await _start_copy(client, pool, volume)
    task = await _task_until(client, started["id"], _finished, "the copy")
    assert task["state"] == "succeeded", task
    assert task["done"] == task["total"] >= 768 * MIB
    assert task["result"]["name"] == "copy.qcow2"
    assert _volumes(pool) == ["big.qcow2", "copy.qcow2"]
    listed = await client.simulate_get("/api/v1/hosts/kvm/storage/volumes", headers=AUTH)
    assert "copy.qcow2" in {v["name"] for v in listed.json}


@pytest.mark.kvm
async def test_a_cancelled_volume_copy_leaves_nothing(
    client: Conductor, big_volume: tuple[str, str]
) -> None:
    pool, volume = big_volume
    started = await _start_copy(client, pool, volume)
    cancelled = await client.simulate_delete(f"/api/v1/tasks/{started['id']}", headers=AUTH)
    assert cancelled.status_code == 202, cancelled.text
    task = await _task_until(client, started["id"], _finished, "the cancellation")
    assert task["state"] == "cancelled", task
    assert _volumes(pool) == ["big.qcow2"]


@pytest.mark.kvm
async def test_a_host_lost_during_a_volume_copy_fails_the_task(
    client: Conductor, big_volume: tuple[str, str]
) -> None:
    pool, volume = big_volume
    started = await _start_copy(client, pool, volume)
    lost = await client.simulate_post("/api/v1/hosts/kvm/disconnect", headers=AUTH)
    assert lost.status_code in (200, 202), lost.text
    task = await _task_until(client, started["id"], _finished, "the failure")
    assert task["state"] == "failed", task
    assert task["error_code"] == "host_unavailable"
    assert _volumes(pool) == ["big.qcow2"]


@pytest.mark.kvm
async def test_a_volume_copy_that_cannot_be_is_refused_before_a_task(
    client: Conductor, big_volume: tuple[str, str]
) -> None:
    pool, volume = big_volume
    await _add_kvm_host(client)
    base = f"/api/v1/hosts/kvm/storage/pools/{pool}/volumes"
    taken = await client.simulate_post(f"{base}/{volume}/copy", headers=AUTH, json={"name": volume})
    assert taken.status_code == 409, taken.text
    assert taken.json["error"]["field"] == "name"
    missing = await client.simulate_post(
        f"{base}/no-such.qcow2/copy", headers=AUTH, json={"name": "x.qcow2"}
    )
    assert missing.status_code == 404, missing.text
    elsewhere = await client.simulate_post(
        f"{base}/{volume}/copy",
        headers=AUTH,
        json={"name": "x.qcow2", "target_pool": "no-such-pool"},
    )
    assert elsewhere.status_code == 400, elsewhere.text
    assert elsewhere.json["error"]["field"] == "target_pool"
    assert _volumes(pool) == [volume]
