"""The full stalled-transport reproduction, many times in a row, with production timeouts.

Each run is ``tests/pool/_stall_scenario.py`` in a fresh process: a ``test+unix`` host behind a
freezable UNIX-socket proxy, ``--calls`` ``lookupByName`` calls in flight, the proxy silent for
``--freeze`` seconds, then relaying again. The pool runs with its defaults (keepalive 5 s x 3,
call timeout 120 s) unless told otherwise. A run passes when the process exits 0 (no crash),
every caller was released with an error before the call timeout, and the host came back
CONNECTED and answered. Prints one row per run and a table per freeze length.

Not part of ``python -m benchmarks`` (its name has no ``bench_`` prefix): the default plan
(20 runs each of 20, 60 and 130 s) takes about two hours.

    .venv/bin/python -m benchmarks.stall_repro [--freeze 20 60 130] [--runs 20] [--calls 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parents[1]


def run_once(
    freeze: float,
    calls: int,
    keepalive: tuple[int, int],
    call_timeout: float,
    node: str = "default",
) -> dict[str, object]:
    """Run the scenario once; return its findings plus ``rc``, ``passed`` and ``wall_s``."""
    started = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "tests.pool._stall_scenario",
        f"--freeze={freeze}",
        f"--calls={calls}",
        f"--node={node}",
        f"--keepalive-interval={keepalive[0]}",
        f"--keepalive-count={keepalive[1]}",
        f"--call-timeout={call_timeout}",
    ]
    try:
        done = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=freeze + call_timeout + 180,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"rc": "hung", "passed": False, "wall_s": round(time.monotonic() - started, 1)}
    found: dict[str, object] = {"rc": done.returncode}
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        found |= json.loads(lines[-1])
    else:
        found["stderr"] = done.stderr[-400:]
    outcomes = found.get("outcomes", [])
    found["passed"] = (
        done.returncode == 0
        and isinstance(outcomes, list)
        and len(outcomes) == calls
        and "OperationTimeoutError" not in outcomes
        and found.get("after") == "CONNECTED"
        and found.get("answer") is True
        and found.get("answer_later") is True
    )
    found["wall_s"] = round(time.monotonic() - started, 1)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--freeze", type=float, nargs="+", default=[20.0, 60.0, 130.0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--keepalive", type=int, nargs=2, default=[5, 3], metavar=("S", "N"))
    parser.add_argument("--call-timeout", type=float, default=120.0)
    parser.add_argument(
        "--node",
        choices=["default", "file"],
        default="default",
        help="test:///default (a connection per call) or a node file (calls share one)",
    )
    args = parser.parse_args(argv)
    table: list[tuple[float, int, int, str]] = []
    for freeze in args.freeze:
        passed = 0
        released: list[float] = []
        for index in range(args.runs):
            found = run_once(
                freeze, args.calls, tuple(args.keepalive), args.call_timeout, args.node
            )
            passed += bool(found["passed"])
            times = found.get("released_s", [])
            if isinstance(times, list):
                released += times
            print(
                f"freeze {freeze:g} s run {index + 1}/{args.runs}: "
                f"{'PASS' if found['passed'] else 'FAIL'} rc={found['rc']} "
                f"outcomes={found.get('outcomes')} released_s={found.get('released_s')} "
                f"after={found.get('after')} wall={found['wall_s']} s"
                + (f" stderr={found['stderr']!r}" if "stderr" in found else ""),
                flush=True,
            )
        worst = f"{max(released):.1f}" if released else "-"
        table.append((freeze, args.runs, passed, worst))
    print("\nfreeze_s  runs  passed  slowest caller release (s after freeze)")
    for freeze, runs, passed, worst in table:
        print(f"{freeze:8g}  {runs:4d}  {passed:6d}  {worst}")
    return 0 if all(runs == passed for _, runs, passed, _ in table) else 1


if __name__ == "__main__":
    sys.exit(main())
