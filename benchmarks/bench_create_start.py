"""Create + start of the tiny Linux guest via ``virtumancer serve`` vs ``virsh define && start``.

The guest is the busybox Linux of ``scripts/build-linux-guest`` (direct kernel boot, TCG,
128 MiB, a 64 MiB qcow2 disk in a directory pool, a file serial console, no cloud-init).

- Service side: ``POST /hosts/kvm/vms?start=true`` with the VM spec to a real
  ``virtumancer serve`` process, timed from just before the request until the WebSocket
  client has seen a ``vms-changed`` for the host *and* the response said ``running`` (the
  record is written before the notification, so a client re-reading on the message sees it).
  The spec path makes the disk volume itself (``createXML`` in the pool).
- Baseline: ``qemu-img create`` of the disk, ``virsh define`` of the very XML the service
  defined (name, UUID and paths changed), then ``virsh start`` -- three processes, each
  opening its own libvirt connection.

Both sides run interleaved, best of ``ROUNDS``, on ``qemu:///system``; each VM is destroyed
and deleted (with its disk) between rounds. Target: <= 1.3x.

Run: ``.venv/bin/python -m benchmarks create_start`` (as root, with the system libvirtd and
the guest built by ``scripts/build-linux-guest``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.client import connect

from benchmarks._harness import report
from benchmarks.bench_ws import HEADERS, Server, _next
from virtumancer import (
    Accelerator,
    KernelBoot,
    NewVolume,
    SerialSpec,
    SerialType,
    VmSpec,
)
from virtumancer.spec_json import unstructure_spec
from virtumancer.testing import LINUX_GUEST_DIR, virsh

URI = "qemu:///system"
ROUNDS = 5
TARGET_RATIO = 1.3
MIB = 1 << 20


def _spec(name: str, pool: str, directory: Path) -> dict[str, Any]:
    spec = VmSpec(
        name=name,
        memory_bytes=128 * MIB,
        machine="pc",
        accelerator=Accelerator.TCG,  # the Linux kernel hangs under the nested KVM here
        disks=(NewVolume(pool=pool, size_bytes=64 * MIB),),
        graphics=None,
        kernel_boot=KernelBoot(
            kernel=f"{LINUX_GUEST_DIR}/vmlinuz",
            initrd=f"{LINUX_GUEST_DIR}/initramfs.img",
            cmdline="console=ttyS0",
        ),
        serial=SerialSpec(type=SerialType.FILE, log_path=str(directory / f"{name}.log")),
        cloud_init=None,
    )
    data: dict[str, Any] = unstructure_spec(spec)
    return data


def _remove(name: str) -> None:
    virsh(URI, "destroy", name, check=False)
    virsh(URI, "undefine", name, "--remove-all-storage", check=False)
    virsh(URI, "undefine", name, check=False)


async def _service_round(server: Server, name: str, pool: str, directory: Path) -> float:
    body = _spec(name, pool, directory)
    async with connect(server.ws_url, additional_headers=HEADERS) as ws:
        await anyio.sleep(0.2)  # a quiet socket before the clock starts
        started = time.perf_counter()
        seen: list[float] = []
        async with anyio.create_task_group() as tg:

            async def post() -> None:
                response = await anyio.to_thread.run_sync(
                    lambda: server.http.post("/hosts/kvm/vms", params={"start": "true"}, json=body)
                )
                response.raise_for_status()
                if response.json()["state"] not in ("running", 1):
                    raise RuntimeError(f"created but {response.json()['state']}")
                seen.append(time.perf_counter())

            tg.start_soon(post)
            await _next(
                ws,
                lambda m: (
                    m.get("type") == "vms-changed"
                    and (m.get("payload") or {}).get("hostId") == "kvm"
                ),
            )
            seen.append(time.perf_counter())
    return max(seen) - started


def _virsh_round(xml: str, name: str, directory: Path) -> float:
    disk = directory / f"{name}-disk0.qcow2"
    path = directory / f"{name}.xml"
    path.write_text(xml)
    started = time.perf_counter()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    virsh(URI, "define", str(path))
    virsh(URI, "start", name)
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def _baseline_xml(service_xml: str, service_name: str, name: str) -> str:
    xml = re.sub(r"<uuid>[^<]*</uuid>", "", service_xml)
    xml = re.sub(r"<metadata>.*?</metadata>", "", xml, flags=re.S)
    xml = re.sub(r"<mac address='[^']*'/>", "", xml)
    return xml.replace(service_name, name)


def main() -> None:
    """Print the best time of each side and their ratio."""
    tag = secrets.token_hex(3)
    pool = f"vmt-bench-cs-{tag}"
    service_times: list[float] = []
    virsh_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="vmt-bench-cs-") as raw_dir:
        directory = Path(raw_dir)
        os.chmod(directory, 0o755)  # noqa: S103 (libvirtd reads and writes here)
        virsh(URI, "pool-create-as", pool, "dir", "--target", str(directory))
        server = Server(directory)
        try:
            server.http.post("/hosts", json={"id": "kvm", "uri": URI}).raise_for_status()
            for round_ in range(ROUNDS):
                name = f"vmt-bench-cs-{tag}-s{round_}"
                service_times.append(anyio.run(_service_round, server, name, pool, directory))
                xml = virsh(URI, "dumpxml", "--inactive", "--security-info", name)
                server.http.delete(
                    f"/hosts/kvm/vms/{name}",
                    params={"force": "true", "delete_storage": "true"},
                ).raise_for_status()
                baseline = f"vmt-bench-cs-{tag}-v{round_}"
                try:
                    virsh_times.append(
                        _virsh_round(_baseline_xml(xml, name, baseline), baseline, directory)
                    )
                finally:
                    _remove(baseline)
        finally:
            server.close()
            virsh(URI, "pool-destroy", pool, check=False)
    best, baseline_best = min(service_times), min(virsh_times)
    report(
        "create+start of the Linux guest via serve, until WS (best)",
        best,
        baseline=baseline_best,
        baseline_name="qemu-img+virsh define+start",
        target=f"<= {TARGET_RATIO}x",
        ok=best <= TARGET_RATIO * baseline_best,
    )
    print(
        "  all rounds: service "
        + ", ".join(f"{t:.3f}" for t in service_times)
        + " s; virsh "
        + ", ".join(f"{t:.3f}" for t in virsh_times)
        + " s",
        flush=True,
    )
    print(json.dumps({"service": service_times, "virsh": virsh_times}), flush=True)


if __name__ == "__main__":
    main()
