"""Volume copies on qemu:///system: the host copies, progress in bytes, nothing left on failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from virtumancer import ConflictError, NotFoundError, OperationCancelledError, SyncHost
from virtumancer.testing import virsh

from ..conftest import QEMU_URI
from .test_vm_lifecycle_qemu import _volumes, dir_pool, host

__all__ = ["dir_pool", "host"]

pytestmark = [pytest.mark.kvm]


def _filled_source(pool: str, tmp_path: Path, *, raw: bool = False) -> Path:
    """A 64 MiB volume with 48 MiB of data (and a hole at its end) in ``pool``."""
    fmt = "raw" if raw else "qcow2"
    disk = tmp_path / "pool" / f"src.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(disk), "64M"], check=True)
    subprocess.run(
        ["qemu-io", "-f", fmt, "-c", "write -P 0x5a 0 48M", str(disk)],
        check=True,
        capture_output=True,
    )
    virsh(QEMU_URI, "pool-refresh", pool)
    return disk


@pytest.mark.parametrize("raw", [False, True], ids=["qcow2", "raw"])
def test_a_copy_has_the_same_data_and_reports_its_bytes_to_the_end(
    host: SyncHost, dir_pool: str, tmp_path: Path, raw: bool
) -> None:
    source = _filled_source(dir_pool, tmp_path, raw=raw)
    seen: list[tuple[int, int]] = []
    copied = host.copy_volume(
        dir_pool, source.name, "copy", progress=lambda done, total: seen.append((done, total))
    )
    assert copied.name == "copy"
    assert copied.pool_name == dir_pool
    assert sorted(_volumes(dir_pool)) == sorted([source.name, "copy"])
    fmt = "raw" if raw else "qcow2"
    compared = subprocess.run(
        ["qemu-img", "compare", "-f", fmt, "-F", fmt, str(source), str(tmp_path / "pool/copy")],
        capture_output=True,
        text=True,
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert seen
    assert seen[-1][0] == seen[-1][1] >= 48 * 1024 * 1024
    assert all(done <= total for done, total in seen)


def test_a_progress_that_raises_leaves_no_copy_behind(
    host: SyncHost, dir_pool: str, tmp_path: Path
) -> None:
    source = _filled_source(dir_pool, tmp_path)

    def cancel(_done: int, _total: int) -> None:
        raise OperationCancelledError("the task was cancelled")

    with pytest.raises(OperationCancelledError):
        host.copy_volume(dir_pool, source.name, "copy", progress=cancel)
    assert _volumes(dir_pool) == [source.name]
    assert not (tmp_path / "pool" / "copy").exists()


def test_a_name_in_use_or_an_unknown_source_is_refused_before_copying(
    host: SyncHost, dir_pool: str, tmp_path: Path
) -> None:
    source = _filled_source(dir_pool, tmp_path)
    with pytest.raises(ConflictError) as taken:
        host.copy_volume(dir_pool, source.name, source.name)
    assert taken.value.field == "name"
    with pytest.raises(NotFoundError):
        host.copy_volume(dir_pool, "no-such-volume", "copy")
    assert _volumes(dir_pool) == [source.name]
