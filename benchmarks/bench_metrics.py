"""A ``/metrics`` scrape of a host with 1,000 domains: libvirt calls per scrape, and latency.

Starts a real ``virtumancer serve`` (no demo), adds one 1,000-domain ``test+unix`` host,
scrapes ``/metrics`` repeatedly over HTTP and reads, from the scrapes themselves, the
library's count of bulk stats calls (``virtumancer_bulk_stats_calls_total``): target one per
host per scrape, whatever the number of domains. The baseline is a scrape-sized libvirt call
on its own (``virtumancer_bulk_stats_duration_seconds``, reported by the server).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks._harness import report, summary
from virtumancer.testing import make_test_node_xml, wait_until_healthy

DOMAINS = 1000
SCRAPES = 30
TOKEN = "bench-token-0123456789"  # noqa: S105 (a throwaway server on loopback)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _sample(text: str, name: str, host: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("host") == host:
                return float(sample.value)
    raise AssertionError(f"no {name}")


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="vmt-bench-metrics-"))
    directory.chmod(0o755)
    node = directory / "node.xml"
    node.write_text(make_test_node_xml(domains=DOMAINS))
    node.chmod(0o644)
    port = _port()
    env = {**os.environ, "XDG_DATA_HOME": str(directory)}
    args = [sys.executable, "-m", "virtumancer_server.cli", "serve", "--port", str(port)]
    args += ["--token", TOKEN, "--database", f"sqlite:///{directory / 'db.sqlite'}"]
    args += ["--allow-test-uris", "--test-uri-dir", str(directory), "--log-level", "warning"]
    server = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        wait_until_healthy(url, process=server)
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            added = client.post("/api/v1/hosts", json={"id": "big", "uri": f"test+unix://{node}"})
            assert added.status_code in (200, 201), added.text
            first = client.get("/metrics").text
            latencies, calls, bulk = [], [], []
            for _ in range(SCRAPES):
                before = _sample(first, "virtumancer_bulk_stats_calls_total", "big")
                started = time.perf_counter()
                response = client.get("/metrics")
                latencies.append(time.perf_counter() - started)
                first = response.text
                calls.append(_sample(first, "virtumancer_bulk_stats_calls_total", "big") - before)
                bulk.append(_sample(first, "virtumancer_bulk_stats_duration_seconds", "big"))
            size = len(first.encode())
        report(
            f"libvirt calls per scrape ({DOMAINS} domains, max of {SCRAPES})",
            max(calls),
            unit="calls",
            target="1",
            ok=max(calls) == 1,
        )
        latencies.sort()
        median = latencies[len(latencies) // 2]
        bulk.sort()
        report(
            f"/metrics scrape latency ({DOMAINS} domains, median)",
            median,
            baseline=bulk[len(bulk) // 2],
            baseline_name="its bulk stats call",
        )
        print(f"    scrape: {summary(latencies)}; body {size / 1024:.0f} KiB", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
