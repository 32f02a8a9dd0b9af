"""``virtumancer vms list -o json`` vs ``virsh list --all`` on a 1,000-domain test+unix host.

Each round starts both as new processes (as a person or a script runs them), interleaved so a
noisy neighbour slows both alike; each figure is the median of the rounds. The node is served
by libvirtd (``test+unix://``), so every libvirt call is a real RPC. Target: <= 2x virsh.
Also: the same listing as a table (Rich imported), and ``virtumancer --version`` (the floor of
any call: interpreter + Click + the CLI's own modules).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import report
from virtumancer.testing import make_test_node_xml

ROUNDS = 9
DOMAINS = 1000
TARGET = 2.0


def _wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, capture_output=True, check=True, timeout=120)
    return time.perf_counter() - started


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="vmt-bench-cli-"))
    directory.chmod(0o755)
    node = directory / "node.xml"
    node.write_text(make_test_node_xml(domains=DOMAINS))
    node.chmod(0o644)
    uri = f"test+unix://{node}"
    cli = [sys.executable, "-m", "virtumancer_server.cli"]
    variants = {
        "virsh list --all": ["virsh", "-c", uri, "list", "--all"],
        "virtumancer vms list -o json": [*cli, "vms", "list", "-c", uri, "-o", "json"],
        "virtumancer vms list (table)": [*cli, "vms", "list", "-c", uri],
        "virtumancer --version": [*cli, "--version"],
    }
    listed = subprocess.run(
        variants["virtumancer vms list -o json"], capture_output=True, check=True, text=True
    )
    assert len(json.loads(listed.stdout)) == DOMAINS
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, args in variants.items():
            times[name].append(_wall(args))
    medians = {name: statistics.median(values) for name, values in times.items()}
    virsh = medians["virsh list --all"]
    for name, median in medians.items():
        if name == "virtumancer vms list -o json":
            ratio = median / virsh
            report(
                f"{name} ({DOMAINS} domains, median)",
                median,
                baseline=virsh,
                baseline_name="virsh",
                target=f"<= {TARGET}x virsh",
                ok=ratio <= TARGET,
            )
        else:
            report(f"{name} ({DOMAINS} domains, median)", median)


if __name__ == "__main__":
    main()
