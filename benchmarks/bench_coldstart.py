"""A one-shot script in a new process, as a CLI call or an Ansible task runs, vs bare libvirt.

Each round starts new interpreters for: the Virtumancer script (``import virtumancer``,
``connect("test:///default")``, list the domains), the same listing with bare libvirt-python
(the baseline), ``import virtumancer`` alone, the third-party imports the facade cannot do
without (its floor), that floor plus the model classes a listing returns, and an empty
interpreter. The variants are interleaved so a noisy neighbour slows all alike; each figure
is the median of the rounds. Target: <= 2x bare libvirt-python. Then the
``python -X importtime`` entries that cost most, to show where the time goes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from benchmarks._harness import report

ROUNDS = 15
TARGET = 2.0
TOP = 10

SCRIPT = """
import virtumancer
with virtumancer.connect("test:///default") as host:
    names = [d.name for d in host.domains()]
assert names == ["test"], names
"""
BARE = """
import libvirt
conn = libvirt.open("test:///default")
names = [d.name() for d in conn.listAllDomains()]
conn.close()
assert names == ["test"], names
"""
# What `connect()` + list needs from others: attrs (the models) and lxml (the domain XML).
# The event loop and the portal are no longer part of it: the blocking facade imports
# asyncio and anyio only for its first event-driven call (see virtumancer.sync).
FLOOR = "import attrs, lxml.etree\n" + BARE
# The floor plus the model classes a listing returns (Domain and its devices): what the
# attrs classes cost to create -- attrs compiles each class's methods when it is defined.
MODELS = "import attrs, lxml.etree, virtumancer.models.domain\n" + BARE
# Like for like: libvirt-python and the third-party packages were byte-compiled when they were
# installed, as an installed virtumancer is (pip writes the .pyc files). An environment with
# PYTHONDONTWRITEBYTECODE would leave a source checkout's modules compiled anew in every
# process -- measuring the compiler, not the import -- so the rounds run without it and the
# warm-up writes the caches.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
VARIANTS = {
    "empty interpreter": "pass",
    "import virtumancer": "import virtumancer",
    "bare libvirt-python: import, open, list domains": BARE,
    "third-party floor (attrs, lxml + bare)": FLOOR,
    "floor + the listing's model classes": MODELS,
    "virtumancer: import, connect, list domains": SCRIPT,
}


def _run(code: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *options, "-c", code],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=True,
    )


def _wall(code: str) -> float:
    started = time.perf_counter()
    _run(code)
    return time.perf_counter() - started


def importtime_entries(code: str) -> list[tuple[int, int, str]]:
    """Return ``(self_us, cumulative_us, indented name)`` for each module ``code`` imports."""
    entries = []
    for line in _run(code, "-X", "importtime").stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        entries.append((int(own), int(cumulative), name.rstrip()))
    return entries


def main() -> None:
    """Print the medians, the ratio to bare libvirt-python, and the costliest imports."""
    for code in VARIANTS.values():  # warm the bytecode caches and the page cache
        _run(code)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(ROUNDS):
        for name, code in VARIANTS.items():
            times[name].append(_wall(code))
    median = {name: statistics.median(values) for name, values in times.items()}
    baseline = median["bare libvirt-python: import, open, list domains"]
    print(f"median of {ROUNDS} new processes each (wall clock, process start to exit)")
    for name, value in median.items():
        is_script = name.startswith("virtumancer:")
        report(
            name,
            value,
            baseline=baseline,
            baseline_name="bare",
            target=f"<= {TARGET}x bare libvirt-python" if is_script else None,
            ok=value / baseline <= TARGET if is_script else None,
        )

    entries = importtime_entries(SCRIPT)
    print(f"\npython -X importtime, the script: top {TOP} by cumulative time")
    for own, cumulative, name in sorted(entries, key=lambda e: -e[1])[:TOP]:
        print(f"  {cumulative / 1000:8.1f} ms cumulative {own / 1000:7.1f} ms self  {name}")
    print(f"python -X importtime, the script: top {TOP} by self time")
    for own, cumulative, name in sorted(entries, key=lambda e: -e[0])[:TOP]:
        print(f"  {own / 1000:8.1f} ms self {cumulative / 1000:7.1f} ms cumulative  {name}")
    total = sum(own for own, _, _ in entries) / 1000
    ours = sum(own for own, _, name in entries if name.strip().startswith("virtumancer")) / 1000
    print(f"all imports: {total:.1f} ms, of which virtumancer's own modules: {ours:.1f} ms")
    heavy = ("sqlalchemy", "alembic", "falcon", "asyncssh", "virtumancer.db", "virtumancer.manager")
    loaded = sorted({name.strip() for *_, name in entries} & set(heavy))
    print(f"database/service modules imported by the script: {loaded or 'none'}", flush=True)


if __name__ == "__main__":
    main()
