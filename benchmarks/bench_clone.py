"""Full-copy clone of a VM with a 1 GiB disk vs ``qemu-img convert`` of the same file.

Two sources: a qcow2 image with all of its 1 GiB written (the copy moves 1 GiB of data, not
holes) and a sparse one (1 GiB virtual, nothing written). ``SyncHost.clone_vm(full_copy=True)``
has the host copy it (``createXMLFrom``, its progress polled through a second connection)
and defines the clone; the baseline is
``qemu-img convert -f qcow2 -O qcow2`` of the same file into the same directory. Both sides
run interleaved, best of ``ROUNDS``, on ``qemu:///system``. Target: <= 1.2x.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import virtumancer
from benchmarks._harness import report
from virtumancer.testing import virsh

URI = "qemu:///system"
ROUNDS = 3
TARGET_RATIO = 1.2
GIB = 1 << 30


def main() -> None:
    """Print the best time of each side and their ratio, for a filled and a sparse source."""
    for filled in (True, False):
        _bench(filled=filled)


def _bench(*, filled: bool) -> None:
    tag = secrets.token_hex(3)
    pool, source = f"vmt-bench-clone-{tag}", f"vmt-bench-src-{tag}"
    with tempfile.TemporaryDirectory(prefix="vmt-bench-clone-") as directory:
        os.chmod(directory, 0o755)  # noqa: S103 (libvirtd reads and writes here)
        disk = Path(directory) / f"{source}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"], check=True)
        if filled:
            subprocess.run(
                ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1G", str(disk)],
                check=True,
                capture_output=True,
            )
        virsh(URI, "pool-create-as", pool, "dir", "--target", directory)
        xml = Path(directory) / "src.xml"
        xml.write_text(
            f"<domain type='qemu'><name>{source}</name><memory unit='MiB'>64</memory>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>"
            "</devices></domain>"
        )
        virsh(URI, "define", str(xml))
        clone_times: list[float] = []
        convert_times: list[float] = []
        try:
            with virtumancer.connect(URI) as host:
                for round_ in range(ROUNDS):
                    clone = f"{source}-c{round_}"
                    started = time.perf_counter()
                    host.clone_vm(source, clone, full_copy=True)
                    clone_times.append(time.perf_counter() - started)
                    host.delete_vm(clone, delete_storage=True)

                    target = Path(directory) / f"convert-{round_}.qcow2"
                    started = time.perf_counter()
                    subprocess.run(
                        [
                            "qemu-img",
                            "convert",
                            "-f",
                            "qcow2",
                            "-O",
                            "qcow2",
                            str(disk),
                            str(target),
                        ],
                        check=True,
                    )
                    convert_times.append(time.perf_counter() - started)
                    target.unlink()
        finally:
            virsh(URI, "undefine", source, check=False)
            virsh(URI, "pool-destroy", pool, check=False)
        best, baseline = min(clone_times), min(convert_times)
        report(
            f"full-copy clone of a 1 GiB disk, {'filled' if filled else 'sparse'} (best)",
            best,
            baseline=baseline,
            baseline_name="qemu-img convert",
            target=f"<= {TARGET_RATIO}x",
            ok=best <= TARGET_RATIO * baseline,
        )
        print(
            "  all rounds: clone "
            + ", ".join(f"{t:.2f}" for t in clone_times)
            + " s; convert "
            + ", ".join(f"{t:.2f}" for t in convert_times)
            + " s",
            flush=True,
        )


if __name__ == "__main__":
    main()
