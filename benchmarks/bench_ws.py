"""The ``/ws`` WebSocket: change latency, libvirt calls per stats tick, server CPU under load.

Three figures:

1. ``virsh destroy`` / ``virsh start`` of a real KVM guest on ``qemu:///system`` behind the
   server's back -> ``vms-changed`` received by a WebSocket client of a real
   ``virtumancer serve`` process. Latency from just before ``virsh`` is started to the
   message (so it includes virsh's own start-up and the hypervisor's work), p50/p99 over
   ``--changes`` changes (half destroys, half starts). Also shown: latency from the moment
   virsh returned (negative when the message beat virsh's exit). Target p50 <= 50 ms,
   p99 <= 250 ms.
2. libvirt calls reaching the daemon per host per tick with 1, 10 and 500 subscribed VMs
   (``StatsSampler`` over a real ``ConnectionPool`` on ``test+unix://`` with 500 running
   domains; counted with a profiler hook on ``libvirtmod``'s C functions in the worker
   threads, as ``bench_bulk_stats`` does). Target: 1.
3. Server CPU (process CPU seconds / wall seconds, from ``/proc``) while it samples 500 VMs
   of a ``test+unix://`` host at 1 Hz for 50 WebSocket clients: (a) each client subscribed to
   10 different VMs (500 messages/s in all), (b) fan-out: every client subscribed to the same
   50 VMs (2,500 messages/s). Every client subscribed to all 500 VMs (25,000 messages/s) is
   beyond this 2-core machine once the 50 clients' own JSON parsing shares it.

Run: ``.venv/bin/python -m benchmarks ws`` or ``.venv/bin/python benchmarks/bench_ws.py``
(as root, with the system libvirtd running and ``/dev/kvm`` for the first figure).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
from websockets.asyncio.client import ClientConnection, connect

from benchmarks._harness import cpu_seconds, percentile, report, summary
from benchmarks.bench_bulk_stats import CallCounter
from virtumancer.pool import ConnectionPool
from virtumancer.services.stats import StatsSampler, StatsUpdate
from virtumancer.testing import (
    free_port,
    guest_xml,
    make_test_node_xml,
    stop_process,
    virsh,
    wait_until_healthy,
)

TOKEN = "bench-token-" + secrets.token_hex(8)
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
QEMU_URI = "qemu:///system"
IMAGES = Path("/var/lib/libvirt/images")


class Server:
    """``virtumancer serve`` in a child process on a fresh SQLite database."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        env = {**os.environ, "XDG_DATA_HOME": str(workdir / "data"), **(env or {})}
        self._stderr = (workdir / "server.err").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "virtumancer_server.cli",
                "serve",
                "--port",
                str(self.port),
                "--database",
                f"sqlite:///{workdir / 'bench.db'}",
                "--token",
                TOKEN,
                "--allow-test-uris",
                "--test-uri-dir",
                tempfile.gettempdir(),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        wait_until_healthy(self.url, process=self.process, log=workdir / "server.err")
        self.http = httpx.Client(base_url=f"{self.url}/api/v1", headers=HEADERS, timeout=300)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def close(self) -> None:
        self.http.close()
        stop_process(self.process)
        self._stderr.close()


async def _next(socket_: ClientConnection, predicate: Callable[[dict[str, Any]], bool]) -> None:
    with anyio.fail_after(30):
        while True:
            if predicate(json.loads(await socket_.recv())):
                return


# --- 1. virsh change -> vms-changed -------------------------------------------------------


def _make_guest(name: str) -> Path:
    disk = IMAGES / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    domain_type = "kvm" if os.path.exists("/dev/kvm") else "qemu"
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as handle:
        handle.write(guest_xml(name, disk_path=str(disk), domain_type=domain_type))
    try:
        virsh(QEMU_URI, "define", handle.name)
    finally:
        os.unlink(handle.name)
    virsh(QEMU_URI, "start", name)
    return disk


def _remove_guest(name: str, disk: Path) -> None:
    virsh(QEMU_URI, "destroy", name, check=False)
    virsh(QEMU_URI, "undefine", name, "--nvram", check=False)
    virsh(QEMU_URI, "undefine", name, check=False)
    disk.unlink(missing_ok=True)


class EventWatcher:
    """``virsh event --loop`` in a child process: when did libvirt announce each change?

    An independent listener on the same daemon, so "event seen here -> vms-changed at the
    client" isolates the service's part from the hypervisor's (a KVM destroy takes a second
    or more before libvirt reports it).
    """

    def __init__(self, uri: str, name: str) -> None:
        self.times: list[float] = []
        self._process = subprocess.Popen(
            [
                "stdbuf",
                "-oL",
                "virsh",
                "-c",
                uri,
                "event",
                "--domain",
                name,
                "--loop",
                "--event",
                "lifecycle",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.5)  # registered before the first change

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if "lifecycle" in line:
                self.times.append(time.perf_counter())

    def first_after(self, moment: float) -> float | None:
        return next((t for t in self.times if t >= moment), None)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait()


async def _virsh_latency(
    server: Server, host_id: str, uri: str, name: str, changes: int
) -> tuple[list[float], list[float], list[float]]:
    from_start: list[float] = []
    from_return: list[float] = []
    from_event: list[float] = []
    watcher = EventWatcher(uri, name)
    async with connect(server.ws_url, additional_headers=HEADERS) as ws:
        running = True
        for _ in range(changes):
            command = "destroy" if running else "start"
            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                returned: list[float] = []

                async def run_virsh(
                    command: str = command, returned: list[float] = returned
                ) -> None:
                    await anyio.to_thread.run_sync(virsh, uri, command, name)
                    returned.append(time.perf_counter())

                tg.start_soon(run_virsh)
                await _next(
                    ws,
                    lambda m: (
                        m.get("type") == "vms-changed"
                        and (m.get("payload") or {}).get("hostId") == host_id
                    ),
                )
                received = time.perf_counter()
            from_start.append(received - started)
            from_return.append(received - returned[0])
            await anyio.sleep(0.1)  # the watcher's line may trail the message slightly
            event_at = watcher.first_after(started)
            if event_at is not None:
                from_event.append(received - event_at)
            running = not running
            # Let the follow-up notifications of this change (sync after the event) drain, so
            # the next change is measured from a quiet socket.
            await anyio.sleep(0.3)
            with anyio.move_on_after(0.2):
                while True:
                    await ws.recv()
    watcher.close()
    return from_start, from_return, from_event


def bench_virsh_latency(workdir: Path, changes: int) -> None:
    name = f"vmt-bench-{int(time.time())}-{secrets.token_hex(2)}-ws"
    disk = _make_guest(name)
    server = Server(workdir)
    try:
        server.http.post("/hosts", json={"id": "kvm", "uri": QEMU_URI}).raise_for_status()
        server.http.post(f"/hosts/kvm/vms/{name}/import").raise_for_status()
        time.sleep(1.0)
        from_start, from_return, from_event = anyio.run(
            _virsh_latency, server, "kvm", QEMU_URI, name, changes
        )
    finally:
        server.close()
        _remove_guest(name, disk)
    _report_latency("KVM", changes, from_start, from_return, from_event)


def bench_virsh_latency_test_driver(workdir: Path, changes: int) -> None:
    """The same with domain ``test`` of ``test+unix:///default`` in a private libvirtd.

    ``test:///default`` is the only test-driver node whose state connections share, and the
    system daemon's copy is shared with everyone else testing on this machine, hence the
    private daemon (``bench_events.private_libvirtd``). The server may reach its socket
    because its ``XDG_RUNTIME_DIR`` is the daemon's runtime directory.
    """
    from benchmarks.bench_events import private_libvirtd

    with private_libvirtd() as (uri, socket_dir):
        server = Server(workdir, env={"XDG_RUNTIME_DIR": str(Path(socket_dir).parent)})
        try:
            server.http.post("/hosts", json={"id": "testdrv", "uri": uri}).raise_for_status()
            server.http.post("/hosts/testdrv/vms/test/import").raise_for_status()
            time.sleep(1.0)
            from_start, from_return, from_event = anyio.run(
                _virsh_latency, server, "testdrv", uri, "test", changes
            )
        finally:
            server.close()
    _report_latency("test+unix", changes, from_start, from_return, from_event)


def _report_latency(
    kind: str,
    changes: int,
    from_start: list[float],
    from_return: list[float],
    from_event: list[float],
) -> None:
    p50, p99 = percentile(from_start, 50) * 1000, percentile(from_start, 99) * 1000
    report(
        f"virsh destroy/start ({kind}) -> vms-changed, p50 of {changes}",
        p50,
        unit="ms",
        target="<= 50 ms",
        ok=p50 <= 50,
    )
    report(
        f"virsh destroy/start ({kind}) -> vms-changed, p99 of {changes}",
        p99,
        unit="ms",
        target="<= 250 ms",
        ok=p99 <= 250,
    )
    print(f"    from virsh start:  {summary(from_start)}", flush=True)
    print(f"    from virsh return: {summary(from_return)}", flush=True)
    if from_event:
        e50, e99 = percentile(from_event, 50) * 1000, percentile(from_event, 99) * 1000
        label = f"libvirt event ({kind}, seen by virsh event) -> vms-changed"
        report(f"{label}, p50", e50, unit="ms", target="<= 50 ms", ok=e50 <= 50)
        report(f"{label}, p99", e99, unit="ms", target="<= 250 ms", ok=e99 <= 250)
        print(f"    from the event: {summary(from_event)}", flush=True)
    destroys, starts = from_start[0::2], from_start[1::2]
    print(f"    destroys: {summary(destroys)}; starts: {summary(starts)}", flush=True)


# --- 2. libvirt calls per host per tick ----------------------------------------------------


async def _calls_per_tick(uri: str, subscribed: int, ticks: int) -> list[int]:
    counter = CallCounter()
    threading.setprofile(counter.hook)
    try:
        async with ConnectionPool(call_timeout=None) as pool:
            await pool.add_host("bench", uri)
            per_tick: list[int] = []
            got: dict[int, set[str]] = {}
            done = anyio.Event()
            last_name = f"guest-{subscribed - 1:04d}"
            settled = anyio.Event()

            def sink(update: StatsUpdate) -> None:
                if update.vm_name == last_name:
                    settled.set()
                if not settled.is_set():
                    return
                got.setdefault(update.sample.timestamp_ns, set()).add(update.vm_name)

            async with StatsSampler(pool, 0.5) as sampler:
                for n in range(subscribed):
                    await sampler.subscribe("bench", f"guest-{n:04d}", sink)
                await settled.wait()
                # Count from one tick boundary to the next: the calls made between two
                # complete deliveries belong to exactly one tick.
                counter.split()
                seen = sum(1 for names in got.values() if len(names) == subscribed)
                with anyio.fail_after(120):
                    while len(per_tick) < ticks:
                        await anyio.sleep(0.01)
                        complete = [t for t, names in got.items() if len(names) == subscribed]
                        if len(complete) > seen:
                            remote, _local = counter.split()
                            per_tick.append(sum(remote.values()))
                            if os.environ.get("BENCH_WS_DEBUG"):
                                print("   ", remote, flush=True)
                            seen = len(complete)
                done.set()
    finally:
        threading.setprofile(None)
    return per_tick


def bench_calls_per_tick(workdir: Path) -> None:
    node = workdir / "node500.xml"
    node.write_text(make_test_node_xml(domains=500, running=500))
    node.chmod(0o644)
    uri = f"test+unix://{node}"
    for subscribed in (1, 10, 500):
        per_tick = anyio.run(_calls_per_tick, uri, subscribed, 6)
        worst = max(per_tick)
        report(
            f"libvirt calls per host per tick, {subscribed} VMs subscribed, max of {len(per_tick)}",
            worst,
            unit="calls",
            target="1",
            ok=worst == 1,
        )
        print(f"    per tick: {per_tick}", flush=True)


# --- 3. server CPU at 1 Hz -------------------------------------------------------------


async def _load(server: Server, plan: list[list[str]], seconds: float) -> tuple[float, int]:
    received = 0
    async with anyio.create_task_group() as tg:
        ready = [anyio.Event() for _ in plan]
        stop = anyio.Event()

        async def client(vms: list[str], ready_event: anyio.Event) -> None:
            nonlocal received
            async with connect(
                server.ws_url, additional_headers=HEADERS, max_queue=None, ping_interval=None
            ) as ws:
                for vm in vms:
                    await ws.send(
                        json.dumps(
                            {
                                "type": "subscribe-vm-stats",
                                "payload": {"hostId": "load", "vmName": vm},
                            }
                        )
                    )
                wanted = set(vms)
                while wanted:  # every subscribed VM has delivered once
                    message = json.loads(await ws.recv())
                    if message["type"] == "vm-stats-updated":
                        wanted.discard(message["payload"]["vmName"])
                    elif message["type"] == "error":
                        raise RuntimeError(message)
                ready_event.set()
                while not stop.is_set():
                    with anyio.move_on_after(0.5):
                        await ws.recv()
                        if stop.is_set():
                            break
                        received += 1

        for vms, event in zip(plan, ready, strict=True):
            tg.start_soon(client, vms, event)
        with anyio.fail_after(300):
            for event in ready:
                await event.wait()
        await anyio.sleep(2.0)  # settle
        received = 0
        cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
        await anyio.sleep(seconds)
        cpu1, wall1 = server.cpu_seconds(), time.perf_counter()
        count = received
        stop.set()
    return (cpu1 - cpu0) / (wall1 - wall0), count


def bench_server_cpu(workdir: Path, seconds: float) -> None:
    node = workdir / "load.xml"
    node.write_text(make_test_node_xml(domains=500, running=500, prefix="load-"))
    node.chmod(0o644)
    server = Server(workdir)
    try:
        server.http.post(
            "/hosts", json={"id": "load", "uri": f"test+unix://{node}"}
        ).raise_for_status()
        server.http.put(
            "/settings/metrics", json={"stats_interval_seconds": 1.0}
        ).raise_for_status()
        names = [f"load-{n:04d}" for n in range(500)]
        time.sleep(5)  # let the first inventory sync of the new host finish
        idle0, idle_wall0 = server.cpu_seconds(), time.perf_counter()
        time.sleep(3)
        idle = (server.cpu_seconds() - idle0) / (time.perf_counter() - idle_wall0)
        report(
            "server CPU idle (host with 500 VMs, no subscribers)", idle * 100, unit="% of a core"
        )
        disjoint = [names[i * 10 : (i + 1) * 10] for i in range(50)]
        cpu, count = anyio.run(_load, server, disjoint, seconds)
        report("server CPU, 1 Hz, 500 VMs, 50 clients x 10 VMs each", cpu * 100, unit="% of a core")
        print(
            f"    messages received by the clients: {count / seconds:.0f}/s (expected ~500/s)",
            flush=True,
        )
        shared = [names[:50] for _ in range(50)]
        cpu, count = anyio.run(_load, server, shared, seconds)
        report(
            "server CPU, 1 Hz, 50 VMs, 50 clients x the same 50 VMs", cpu * 100, unit="% of a core"
        )
        print(
            f"    messages received by the clients: {count / seconds:.0f}/s (expected ~2500/s)",
            flush=True,
        )
    finally:
        server.close()


def main(argv: list[str] | None = None) -> None:
    """Print the three figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=["latency", "latency-test", "calls", "cpu"], default=None)
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="vmt-bench-ws-") as directory:
        workdir = Path(directory)
        workdir.chmod(0o755)
        if args.only in (None, "latency"):
            bench_virsh_latency(workdir, args.changes)
        if args.only in (None, "latency-test"):
            bench_virsh_latency_test_driver(workdir, args.changes)
        if args.only in (None, "calls"):
            bench_calls_per_tick(workdir)
        if args.only in (None, "cpu"):
            bench_server_cpu(workdir, args.seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
