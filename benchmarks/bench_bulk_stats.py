"""Bulk stats of 1,000 domains on ``test+unix://``: one libvirt call, little overhead.

Figures:

- how many libvirt API calls one ``HostPool.bulk_stats()`` makes that reach the daemon,
  for all domains and for a subset (counted with a profiler hook on the C functions of
  ``libvirtmod`` in the worker threads; handle accessors such as ``virDomainGetName``, which
  read a local handle, are listed apart). Target: exactly 1.
- the time of ``await host.bulk_stats()`` (worker thread hop + typed samples) against the raw
  ``conn.getAllDomainStats()`` for the same stats groups in the same run, best of N,
  interleaved. Target: <= 1.5x.

and, to tell the two parts of the overhead apart, ``parse_domain_stats()`` alone: on the
1,000 records of that host (against the same raw call, which produced them) and on the
record of a running guest captured from ``qemu:///system``
(``tests/data/xml/stats/kvm-running.json``: one disk, one interface, 107 keys).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
import libvirt

from benchmarks._harness import report, timeit
from virtumancer import ConnectionPool, parse_domain_stats
from virtumancer._libvirt.connection import STATS_GROUPS
from virtumancer.testing import make_test_node_xml

DOMAINS = 1000
GOLDEN_RECORD = (
    Path(__file__).parent.parent / "tests" / "data" / "xml" / "stats" / "kvm-running.json"
)
ROUNDS = 30
TARGET_RATIO = 1.5
# libvirtmod functions that only read or free a local handle: no RPC.
LOCAL_CALLS = frozenset(
    {"virDomainGetName", "virDomainGetUUIDString", "virDomainGetID", "virDomainFree"}
)


class CallCounter:
    """Count calls into libvirt's C module made by threads started while installed."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hook(self, _frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__module__", None) == "libvirtmod":
            with self._lock:
                self.calls[arg.__name__] += 1

    def split(self) -> tuple[dict[str, int], dict[str, int]]:
        remote = {name: n for name, n in self.calls.items() if name not in LOCAL_CALLS}
        local = {name: n for name, n in self.calls.items() if name in LOCAL_CALLS}
        self.calls.clear()
        return remote, local


async def count_calls(uri: str) -> None:
    counter = CallCounter()
    # New worker threads (this event loop's) inherit the hook; the benchmark timing ran in
    # another loop, so its threads were never slowed by it.
    threading.setprofile(counter.hook)
    try:
        async with ConnectionPool(call_timeout=None) as pool:
            host = await pool.add_host("bench", uri)
            counter.calls.clear()
            samples = await host.bulk_stats()
            all_remote, all_local = counter.split()
            subset = await host.bulk_stats([s.domain_uuid for s in samples[:10]])
            some_remote, some_local = counter.split()
    finally:
        threading.setprofile(None)
    assert len(samples) == DOMAINS, len(samples)
    assert len(subset) == 10
    for label, remote, local in (
        (f"all {DOMAINS} domains", all_remote, all_local),
        ("10 of them", some_remote, some_local),
    ):
        total = sum(remote.values())
        report(
            f"libvirt calls reaching the daemon, bulk_stats() of {label}",
            total,
            unit="calls",
            target="1",
            ok=total == 1,
        )
        print(f"    remote: {remote}; local handle calls: {local}", flush=True)


async def time_calls(uri: str) -> None:
    raw = libvirt.open(uri)
    flags = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
    async with ConnectionPool(call_timeout=None) as pool:
        host = await pool.add_host("bench", uri)
        ours = raw_best = float("inf")
        for _ in range(ROUNDS):
            started = time.perf_counter()
            raw.getAllDomainStats(STATS_GROUPS, flags)
            raw_best = min(raw_best, time.perf_counter() - started)
            started = time.perf_counter()
            await host.bulk_stats()
            ours = min(ours, time.perf_counter() - started)
    raw.close()
    report(
        f"HostPool.bulk_stats() of {DOMAINS} domains (best of {ROUNDS})",
        ours * 1000,
        unit="ms",
        baseline=raw_best * 1000,
        baseline_name="raw getAllDomainStats",
        target=f"<= {TARGET_RATIO}x",
        ok=ours <= TARGET_RATIO * raw_best,
    )


def time_parse(uri: str) -> None:
    raw = libvirt.open(uri)
    try:
        flags = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
        records = [record for _dom, record in raw.getAllDomainStats(STATS_GROUPS, flags)]
        raw_best = timeit(lambda: raw.getAllDomainStats(STATS_GROUPS, flags), repeat=ROUNDS)
    finally:
        raw.close()
    golden = json.loads(GOLDEN_RECORD.read_text())
    wallclock = dt.datetime.now(dt.UTC)

    def parse_all(batch: list[dict[str, object]]) -> None:
        for record in batch:
            parse_domain_stats(record, uuid="u", name="vm", timestamp_ns=0, wallclock=wallclock)

    ours = timeit(lambda: parse_all(records), repeat=ROUNDS)
    report(
        f"parse_domain_stats() of those {len(records)} records (best of {ROUNDS})",
        ours * 1000,
        unit="ms",
        baseline=raw_best * 1000,
        baseline_name="raw getAllDomainStats",
    )
    golden_best = timeit(lambda: parse_all([golden] * DOMAINS), repeat=ROUNDS)
    report(
        f"parse_domain_stats() of the qemu golden record ({len(golden)} keys)",
        golden_best / DOMAINS * 1e6,
        unit="us",
    )


def main() -> None:
    """Print the time ratio, the time of parsing alone, and the call counts."""
    with tempfile.TemporaryDirectory(prefix="vmt-bench-") as directory:
        Path(directory).chmod(0o755)
        node = Path(directory) / "node.xml"
        node.write_text(make_test_node_xml(domains=DOMAINS, prefix="vmt-bench-"))
        node.chmod(0o644)
        uri = f"test+unix://{node}"
        anyio.run(time_calls, uri, backend="asyncio")
        time_parse(uri)
        anyio.run(count_calls, uri, backend="asyncio")


if __name__ == "__main__":
    main()
