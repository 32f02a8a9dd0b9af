"""Real clients under a slowloris: 200 WebSocket subscribers + 16 HTTP workers, loopback only.

A ``virtumancer serve --demo`` child process samples stats every second. Phase 1 (baseline)
runs the real clients alone; phase 2 runs them again while a second child process holds
``--slow`` connections that each send a request head one header line at a time (and
reconnect when the server closes them), so the server's header timeout (10 s by default) is
what keeps slots free. Then 20 clients each send one 16 MiB WebSocket frame (refused at
1 MiB). Printed: real-client errors (target 0), HTTP p50/p99, stats messages received,
server RSS before/peak/after, and what the slowloris saw. Every loop is bounded; the whole
run stops by itself.

    .venv/bin/python benchmarks/bench_slowloris.py [--seconds 60] [--baseline-seconds 20]
        [--slow 2000] [--ws-clients 200] [--http-workers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from benchmarks._harness import percentile, report
from virtumancer.testing import free_port, wait_until_healthy

TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token for a loopback run
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
_RUNNING_VMS = ("web-01", "web-02", "db-01")


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the slowloris (a child process) ------------------------------------------------------


async def _slowloris(port: int, connections: int, seconds: float) -> dict[str, int]:
    counts = {"opened": 0, "answered_408": 0, "closed_silently": 0, "refused": 0}
    deadline = time.monotonic() + seconds

    async def one(index: int) -> None:
        await asyncio.sleep(index * 0.002)  # spread the connects over a few seconds
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                counts["refused"] += 1
                await asyncio.sleep(0.5)
                continue
            counts["opened"] += 1
            try:
                writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                first = asyncio.ensure_future(reader.read(64))
                while time.monotonic() < deadline and not first.done():
                    await asyncio.wait({first}, timeout=3.0)
                    if not first.done():
                        writer.write(b"X-Slow: 1\r\n")  # one more header line, never the end
                if first.done():
                    data = first.result() if not first.exception() else b""
                    if data.startswith(b"HTTP/1.1 408"):
                        counts["answered_408"] += 1
                    elif data.startswith(b"HTTP/1.1 503"):
                        counts["refused"] += 1
                    else:
                        counts["closed_silently"] += 1
                else:
                    first.cancel()
            except OSError:
                counts["closed_silently"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one(i) for i in range(connections)))
    return counts


def _run_slowloris_child(port: int, connections: int, seconds: float) -> None:
    _raise_nofile()
    print(json.dumps(asyncio.run(_slowloris(port, connections, seconds))), flush=True)


# --- the real clients ----------------------------------------------------------------------


async def _real_clients(
    base: str, ws_clients: int, http_workers: int, seconds: float
) -> dict[str, Any]:
    errors: list[str] = []
    latencies: list[float] = []
    stats_messages = 0
    ready = 0
    all_ready = asyncio.Event()
    stop = asyncio.Event()

    async def subscriber(index: int) -> None:
        nonlocal stats_messages, ready
        vm = _RUNNING_VMS[index % len(_RUNNING_VMS)]
        try:
            async with connect(
                f"{base.replace('http', 'ws', 1)}/ws", additional_headers=HEADERS, open_timeout=60
            ) as ws:
                message = {
                    "type": "subscribe-vm-stats",
                    "payload": {"hostId": "demo", "vmName": vm},
                }
                await ws.send(json.dumps(message))
                ready += 1
                if ready == ws_clients:
                    all_ready.set()
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    kind = json.loads(raw)["type"]
                    if kind == "vm-stats-updated" and all_ready.is_set():
                        stats_messages += 1
                    elif kind == "error":
                        errors.append(f"ws error reply: {raw[:200]!r}")
        except (OSError, ConnectionClosed, TimeoutError) as exc:
            errors.append(f"ws {index}: {type(exc).__name__}: {exc}")
            all_ready.set()

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        paths = ("/api/v1/hosts", "/api/v1/hosts/demo/vms", "/api/v1/dashboard/overview")
        n = 0
        while not stop.is_set():
            path = paths[(index + n) % len(paths)]
            n += 1
            started = time.perf_counter()
            try:
                response = await client.get(path)
                if response.status_code != 200:
                    errors.append(f"http {path}: {response.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"http {path}: {type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=http_workers, max_keepalive_connections=http_workers)
    async with httpx.AsyncClient(
        base_url=base, headers=HEADERS, limits=limits, timeout=60.0
    ) as client:
        tasks = [asyncio.ensure_future(subscriber(i)) for i in range(ws_clients)]
        await asyncio.wait_for(all_ready.wait(), timeout=120)
        workers = [asyncio.ensure_future(worker(client, i)) for i in range(http_workers)]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks, *workers)
    return {
        "errors": errors,
        "latencies": latencies,
        "stats_messages": stats_messages,
    }


async def _big_frames(base: str, clients: int, size: int) -> int:
    """Send one ``size``-byte frame from each of ``clients`` sockets; return how many closed."""
    closed = 0

    async def one() -> None:
        nonlocal closed
        async with connect(
            f"{base.replace('http', 'ws', 1)}/ws", additional_headers=HEADERS, max_size=None
        ) as ws:
            try:
                await ws.send("x" * size)
                await asyncio.wait_for(ws.recv(), timeout=60)
                await asyncio.wait_for(ws.recv(), timeout=60)
            except ConnectionClosed:
                closed += 1

    await asyncio.gather(*(one() for _ in range(clients)))
    return closed


# --- the run -------------------------------------------------------------------------------


class _RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.peak = max(self.peak, _rss_mib(self.pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)


async def _phase(
    base: str, pid: int, args: argparse.Namespace, seconds: float
) -> tuple[dict[str, Any], float]:
    sampler, stop = _RssSampler(pid), asyncio.Event()
    sampling = asyncio.ensure_future(sampler.run(stop))
    result = await _real_clients(base, args.ws_clients, args.http_workers, seconds)
    stop.set()
    await sampling
    return result, sampler.peak


def _print_phase(name: str, result: dict[str, Any], seconds: float) -> None:
    ms = [v * 1000 for v in result["latencies"]]
    report(
        f"{name}: real-client errors",
        len(result["errors"]),
        unit="",
        target="0",
        ok=not result["errors"],
    )
    report(f"{name}: HTTP p50", percentile(ms, 50), unit="ms")
    report(f"{name}: HTTP p99", percentile(ms, 99), unit="ms")
    report(f"{name}: HTTP requests/s", len(ms) / seconds, unit="/s")
    report(
        f"{name}: stats messages/s (200 subscribers, 1 Hz)",
        result["stats_messages"] / seconds,
        unit="/s",
    )
    for line in result["errors"][:5]:
        print(f"    {line}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--slow", type=int, default=2000)
    parser.add_argument("--ws-clients", type=int, default=200)
    parser.add_argument("--http-workers", type=int, default=16)
    parser.add_argument("--slowloris-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else [])
    if args.slowloris_child:
        port, count, seconds = args.slowloris_child
        _run_slowloris_child(int(port), int(count), float(seconds))
        return
    _raise_nofile()
    with tempfile.TemporaryDirectory(prefix="vmt-bench-slow-") as tmp:
        work = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        err = (work / "server.err").open("wb")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "virtumancer_server.cli",
                "serve",
                "--port",
                str(port),
                "--database",
                f"sqlite:///{work / 'bench.db'}",
                "--token",
                TOKEN,
                "--demo",
                "--log-level",
                "warning",
            ],
            env={**os.environ, "XDG_DATA_HOME": str(work)},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            wait_until_healthy(base, process=server, log=work / "server.err")
            httpx.put(
                f"{base}/api/v1/settings/metrics",
                headers=HEADERS,
                json={"stats_interval_seconds": 1.0},
            ).raise_for_status()
            time.sleep(2)
            rss_start = _rss_mib(server.pid)

            baseline, peak_baseline = asyncio.run(
                _phase(base, server.pid, args, args.baseline_seconds)
            )
            rss_before = _rss_mib(server.pid)
            slow = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_slowloris",
                    "--slowloris-child",
                    str(port),
                    str(args.slow),
                    str(args.seconds + 15),
                ],
                stdout=subprocess.PIPE,
            )
            time.sleep(10)  # the slowloris holds its connections before the clients start
            attacked, peak_attacked = asyncio.run(_phase(base, server.pid, args, args.seconds))
            slow_out, _ = slow.communicate(timeout=120)
            rss_after = _rss_mib(server.pid)
            closed = asyncio.run(_big_frames(base, 20, 16 * 1024 * 1024))
            rss_frames = _rss_mib(server.pid)

            print(f"server RSS at start (demo host, idle): {rss_start:.0f} MiB", flush=True)
            _print_phase(f"baseline {args.baseline_seconds:.0f} s", baseline, args.baseline_seconds)
            print(f"    server RSS after: {rss_before:.0f} MiB (peak {peak_baseline:.0f} MiB)")
            _print_phase(
                f"slowloris {args.slow} conns, {args.seconds:.0f} s", attacked, args.seconds
            )
            print(f"    server RSS after: {rss_after:.0f} MiB (peak {peak_attacked:.0f} MiB)")
            print(f"    slowloris: {slow_out.decode().strip()}", flush=True)
            report(
                "20 x 16 MiB WebSocket frames: sockets closed (1009)",
                closed,
                unit="",
                target="20",
                ok=closed == 20,
            )
            print(f"    server RSS after the frames: {rss_frames:.0f} MiB", flush=True)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            err.close()


if __name__ == "__main__":
    main(sys.argv[1:])
