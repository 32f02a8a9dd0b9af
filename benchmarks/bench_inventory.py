"""Inventory sync of 1,000 domains on ``test+unix://``, against raw libvirt-python.

The baseline (same run, best of N): ``listAllDomains()`` + ``XMLDesc()`` of every domain +
``parse_domain`` of each -- the least any inventory must do. Figures:

- cold import of all 1,000 domains into a fresh SQLite file (``import_all_vms`` on a host
  just added, i.e. discovery already stored): the call returns when the database commit is
  done; provenance (``<metadata>``, one ``setMetadata`` RPC per domain) is written in the
  background and shown apart, as is the first discovery (``add_host``). Target: <= 3x.
- reconciliation with nothing changed (``sync_host``: domains + pools + volumes + networks +
  GPUs). Target: <= 1.5x the baseline and zero rows written (counted on the engine). Also
  shown against the same raw listing run through the pool's connection (``HostPool.run``),
  which carries the pool's event-loop thread overhead and isolates what inventory adds.
- the "pool raw" baseline is the same raw listing run through ``HostPool.run`` inside the
  open service: it carries the per-RPC overhead of the pool's libvirt event-loop thread
  (about 2x on this machine), which the inventory cannot avoid and plain libvirt does not pay.
- one domain changed behind our back: the event path re-reads that domain only (counted:
  domains read one by one, full passes, libvirt calls), and how long until the database
  shows the change.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import libvirt

from benchmarks._harness import report
from virtumancer._xml import parse_domain
from virtumancer.manager import Virtumancer
from virtumancer.models import DomainState
from virtumancer.testing import make_test_node_xml

DOMAINS = 1000
ROUNDS = 3
HOST = "bench"


def _raw_listing(conn: Any) -> list[Any]:
    return [parse_domain(dom.XMLDesc(0)) for dom in conn.listAllDomains(0)]


def raw_baseline(uri: str) -> float:
    """Best time of list + XML + parse of every domain with libvirt-python directly."""
    conn = libvirt.open(uri)
    try:
        best = float("inf")
        for _ in range(ROUNDS + 2):
            started = time.perf_counter()
            domains = _raw_listing(conn)
            best = min(best, time.perf_counter() - started)
            assert len(domains) == DOMAINS
        return best
    finally:
        conn.close()


async def measure(uri: str, directory: Path) -> dict[str, float]:
    figures: dict[str, float] = {
        "add": float("inf"),
        "import": float("inf"),
        "provenance": float("inf"),
        "sync": float("inf"),
        "pool_raw": float("inf"),
        "rows_written_by_sync": 0,
    }
    for round_ in range(ROUNDS):
        url = f"sqlite:///{directory / f'cold-{round_}.db'}"
        async with Virtumancer(url, reconcile_interval=3600) as vm:
            started = time.perf_counter()
            await vm.add_host(HOST, uri)
            figures["add"] = min(figures["add"], time.perf_counter() - started)
            started = time.perf_counter()
            await vm.import_all_vms(HOST)
            figures["import"] = min(figures["import"], time.perf_counter() - started)
            await vm.settle()
            figures["provenance"] = min(figures["provenance"], time.perf_counter() - started)
            assert len(await vm.list_vms(HOST)) == DOMAINS
            await vm.sync_host(HOST)  # settle: provenance now in every domain
            for _ in range(ROUNDS):
                before = vm.database.rows_written
                started = time.perf_counter()
                await vm.sync_host(HOST)
                figures["sync"] = min(figures["sync"], time.perf_counter() - started)
                figures["rows_written_by_sync"] += vm.database.rows_written - before
                # The same raw work through the pool's own connection and worker threads:
                # isolates what the inventory adds from the pool's event-loop overhead.
                started = time.perf_counter()
                await vm.pool.get(HOST).run(_raw_listing)
                figures["pool_raw"] = min(figures["pool_raw"], time.perf_counter() - started)
            if round_ == 0:
                figures.update(await event_path(vm))
    return figures


async def event_path(vm: Virtumancer) -> dict[str, float]:
    inventory = vm.inventory
    name = (await vm.list_vms(HOST))[DOMAINS // 2].name
    read_before, passes_before = inventory.domains_read, inventory.full_passes
    host = vm.pool.get(HOST)
    running = (await host.get_domain(name)).state == DomainState.RUNNING
    action = "suspend" if running else "create"
    wanted = DomainState.PAUSED if running else DomainState.RUNNING
    started = time.perf_counter()
    # Behind Virtumancer's back, through the raw connection (the test driver keeps one copy
    # of the node per connection, so virsh would see another copy).
    await host.run(lambda conn: getattr(conn.lookupByName(name), action)())
    while True:
        vms = {v.name: v for v in await vm.list_vms(HOST)}
        if vms[name].state == wanted:
            break
        await anyio.sleep(0.001)
    elapsed = time.perf_counter() - started
    return {
        "event_latency": elapsed,
        "event_domains_read": inventory.domains_read - read_before,
        "event_full_passes": inventory.full_passes - passes_before,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="vmt-bench-inventory-") as tmp:
        directory = Path(tmp)
        node = directory / "node.xml"
        node.write_text(make_test_node_xml(domains=DOMAINS, prefix="vmt-bench-"))
        uri = f"test+unix://{node}"
        baseline = raw_baseline(uri)
        figures = anyio.run(measure, uri, directory)
        baseline = min(baseline, raw_baseline(uri))  # interleave: a noisy neighbour hits both
    report("raw: list + XMLDesc + parse of 1,000 domains", baseline)
    report("add_host (first discovery of 1,000 domains)", figures["add"], baseline=baseline)
    ratio = figures["import"] / baseline
    report(
        "cold import of 1,000 domains into SQLite",
        figures["import"],
        baseline=baseline,
        target="<= 3x",
        ok=ratio <= 3,
    )
    report(
        "  ... against raw listing through the pool's connection",
        figures["import"],
        baseline=figures["pool_raw"],
        baseline_name="pool raw",
        target="<= 3x",
        ok=figures["import"] / figures["pool_raw"] <= 3,
    )
    report(
        "  ... until provenance is in every domain's <metadata>",
        figures["provenance"],
        baseline=baseline,
    )
    ratio = figures["sync"] / baseline
    report(
        "reconciliation, nothing changed",
        figures["sync"],
        baseline=baseline,
        target="<= 1.5x",
        ok=ratio <= 1.5,
    )
    report(
        "  ... against raw listing through the pool's connection",
        figures["sync"],
        baseline=figures["pool_raw"],
        baseline_name="pool raw",
        target="<= 1.5x",
        ok=figures["sync"] / figures["pool_raw"] <= 1.5,
    )
    rows = figures["rows_written_by_sync"]
    report("rows written by those reconciliations", rows, unit="rows", target="0", ok=rows == 0)
    report("event path: change seen in the database after", figures["event_latency"])
    read = figures["event_domains_read"]
    report("event path: domains re-read", read, unit="domains", target="1", ok=read == 1)
    passes = figures["event_full_passes"]
    report("event path: full passes", passes, unit="passes", target="0", ok=passes == 0)


if __name__ == "__main__":
    main()
