"""A tiny benchmark harness: time things, print figures, ratios against a same-run baseline.

Ratios, not absolute times, are what the targets speak of: both sides are measured in the same
run on the same machine, so a noisy neighbour slows both.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["cpu_seconds", "percentile", "report", "rss_bytes", "summary", "timeit"]


def timeit(fn: Callable[[], object], *, repeat: int = 5, number: int = 1) -> float:
    """Return the best (minimum) seconds per call of ``fn`` over ``repeat`` rounds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the ``pct`` percentile (0-100) of ``values`` by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def report(
    name: str,
    value: float,
    *,
    unit: str = "s",
    baseline: float | None = None,
    baseline_name: str = "baseline",
    target: str | None = None,
    ok: bool | None = None,
) -> None:
    """Print one figure, its ratio to a same-run baseline, and the target it is held to."""
    line = f"{name:<58} {value:>12.4f} {unit}"
    if baseline is not None and baseline:
        line += f"   {baseline_name}: {baseline:.4f} {unit}   ratio: {value / baseline:.2f}x"
    if target:
        verdict = "" if ok is None else ("  [meets]" if ok else "  [MISSES]")
        line += f"   target: {target}{verdict}"
    print(line, flush=True)


def summary(values: Sequence[float]) -> str:
    """Return 'p50 / p99 / mean' of ``values`` in milliseconds."""
    ms = [v * 1000 for v in values]
    return (
        f"p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
        f"mean {statistics.fmean(ms):.2f} ms, n={len(ms)}"
    )


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """Return the CPU seconds (user + system) process ``pid`` has used: every thread's, or
    only thread ``tid``'s (the main thread's id is the process id)."""
    stat = Path(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    # the command name may hold spaces or parentheses: split after its closing ")";
    # utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the ")".
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Return the resident set size (``VmRSS``) of process ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
