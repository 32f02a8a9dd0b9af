"""Run every benchmark module (or those named on the command line): `python -m benchmarks`.

Options after a name go to that benchmark: `python -m benchmarks fleet_scale --hosts 3`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    known = sorted(
        info.name for info in pkgutil.iter_modules([str(here)]) if info.name.startswith("bench_")
    )
    options: dict[str, list[str]] = {}
    for arg in argv:
        if arg in known or f"bench_{arg}" in known:
            options[arg] = []
        elif options:  # anything else after a name is that benchmark's option
            options[list(options)[-1]].append(arg)
        else:
            raise SystemExit(f"{arg}: no such benchmark")
    names = list(options) or known
    failed: list[str] = []
    for name in names:
        module_name = name if name.startswith("bench_") else f"bench_{name}"
        print(f"\n=== {module_name} ===", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{module_name}")
            if options.get(name):
                module.main(options[name])
            else:
                module.main()
        except Exception as exc:  # a broken benchmark must not hide the others' figures
            failed.append(module_name)
            print(f"!!! {module_name} failed: {type(exc).__name__}: {exc}", flush=True)
        print(f"--- {module_name}: {time.perf_counter() - started:.1f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
