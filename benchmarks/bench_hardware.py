"""``GET .../hardware`` of a running KVM guest: libvirt RPCs per request, latency vs virsh.

The request is what the route calls (``Virtumancer.vm_hardware``) on an imported guest of
``qemu:///system`` (a ``virtumancer.testing.guest_xml`` guest: a qcow2 disk in no pool, so
its size comes from block info). Figures:

- libvirt RPCs per request, counted by libvirt's own client: a child process runs the
  requests with ``LIBVIRT_LOG_FILTERS=1:rpc`` and counts ``RPC_CLIENT_MSG_TX_QUEUE`` probes
  of the remote program (calls sent) logged while each request ran. Keepalives are another
  program and are not counted. The host is shared, so the figure is the minimum over the
  requests (another process's guest may make our event path read its domain meanwhile).
  Target: one domain read (lookup, XML, state, autostart, persistence = 5 RPCs) plus one
  block-info RPC per disk in no pool; before this change it was two reads (10 RPCs).
- domain reads per request (``InventoryService.domains_read``, minimum over the requests).
- latency p50 of the request against ``virsh dumpxml`` of the same domain (a process that
  connects, looks up and dumps), both in the same run.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio

from benchmarks._harness import percentile, report
from virtumancer.manager import Virtumancer
from virtumancer.testing import guest_xml, virsh

URI = "qemu:///system"
HOST = "bench"
REQUESTS = 30
IMAGES = Path("/var/lib/libvirt/images")
#: libvirt's REMOTE_PROGRAM (0x20008086): the calls of the API, not keepalives.
_REMOTE_PROGRAM = "prog=536903814"
_TX = re.compile(r"RPC_CLIENT_MSG_TX_QUEUE:.*" + _REMOTE_PROGRAM + r"\b")


def _make_guest() -> tuple[str, Path]:
    name = f"vmt-bench-hw-{uuid.uuid4().hex[:6]}"
    disk = IMAGES / f"{name}.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"],
        check=True,
        capture_output=True,
    )
    domain_type = "kvm" if os.path.exists("/dev/kvm") else "qemu"
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as handle:
        handle.write(guest_xml(name, disk_path=str(disk), domain_type=domain_type))
    try:
        virsh(URI, "define", handle.name)
    finally:
        os.unlink(handle.name)
    virsh(URI, "start", name)
    return name, disk


def _remove_guest(name: str, disk: Path) -> None:
    virsh(URI, "destroy", name, check=False)
    virsh(URI, "undefine", name, check=False)
    disk.unlink(missing_ok=True)


def _count_tx(log: Path, start: int) -> tuple[int, int]:
    with log.open("rb") as handle:
        handle.seek(start)
        data = handle.read()
    text = data.decode(errors="replace")
    return sum(1 for line in text.splitlines() if _TX.search(line)), start + len(data)


async def _requests(name: str, log: Path | None) -> dict[str, object]:
    """Run the requests; with ``log``, count the RPCs of each from libvirt's client log."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        async with Virtumancer(url, reconcile_interval=3600) as vm:
            await vm.add_host(HOST, URI)
            await vm.import_vm(HOST, name)
            await vm.settle()
            await vm.vm_hardware(HOST, name)  # warm: the pool's connection, caches
            rpcs: list[int] = []
            reads: list[int] = []
            seconds: list[float] = []
            sizes: list[int | None] = []
            position = _count_tx(log, 0)[1] if log is not None else 0
            for _ in range(REQUESTS):
                if log is not None:
                    _, position = _count_tx(log, position)
                before = vm.inventory.domains_read
                started = time.perf_counter()
                devices = await vm.vm_hardware(HOST, name)
                seconds.append(time.perf_counter() - started)
                reads.append(vm.inventory.domains_read - before)
                sizes = [disk.size_bytes for disk in devices.disks]
                if log is not None:
                    count, position = _count_tx(log, position)
                    rpcs.append(count)
            return {"rpcs": rpcs, "reads": reads, "seconds": seconds, "sizes": sizes}


def _child(name: str, log: str) -> None:
    figures = anyio.run(_requests, name, Path(log))
    print(json.dumps(figures))


def _rpc_figures(name: str) -> dict[str, object]:
    """Run the requests in a child whose libvirt client logs its RPCs."""
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "libvirt-client.log"
        log.touch()
        env = {
            **os.environ,
            "LIBVIRT_LOG_FILTERS": "1:rpc",
            "LIBVIRT_LOG_OUTPUTS": f"1:file:{log}",
        }
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_hardware", "--child", name, str(log)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        figures: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
        return figures


def _virsh_dumpxml(name: str) -> list[float]:
    seconds = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        virsh(URI, "dumpxml", name)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    name, disk = _make_guest()
    try:
        counted = _rpc_figures(name)
        timed = anyio.run(_requests, name, None)
        baseline = _virsh_dumpxml(name)
    finally:
        _remove_guest(name, disk)
    rpcs = [int(n) for n in counted["rpcs"]]  # type: ignore[attr-defined]
    reads = [int(n) for n in timed["reads"]]  # type: ignore[attr-defined]
    print(f"disk sizes in the response: {timed['sizes']}")
    report(
        "libvirt RPCs per GET hardware (min over requests)",
        min(rpcs),
        unit="RPCs",
        target="<= 6 (one domain read + 1 block info); was 10",
        ok=min(rpcs) <= 6,
    )
    print(f"  RPCs per request: median {statistics.median(rpcs):g}, max {max(rpcs)}")
    report(
        "domain reads per GET hardware (min over requests)",
        min(reads),
        unit="reads",
        target="1",
        ok=min(reads) == 1,
    )
    ours = percentile(timed["seconds"], 50)  # type: ignore[arg-type]
    theirs = percentile(baseline, 50)
    report(
        "GET hardware (vm_hardware), p50",
        ours,
        baseline=theirs,
        baseline_name="virsh dumpxml p50",
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
