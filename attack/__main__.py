"""``nox -s attack``: the hostile suite against live ``virtumancer serve`` processes.

Starts real servers (token mode with the demo host, and ``--no-auth`` mode), throws at them
what an attacker and a bad network would -- hostile URIs with canaries, the auth matrix,
slowloris, oversized WebSocket frames, nesting and number bombs, NULs, DNS rebinding and
cross-site posts, secrets in ``ps`` and on disk -- and prints a table: attack -> held.
Exits 1 if anything did not hold. Traffic goes to loopback only; every loop is bounded.

    python -m attack                 # everything
    python -m attack uri slowloris   # only the named groups
"""

from __future__ import annotations

import sys

from attack._checks import GROUPS, run


def main(argv: list[str]) -> int:
    names = argv or list(GROUPS)
    unknown = [name for name in names if name not in GROUPS]
    if unknown:
        print(f"unknown groups: {', '.join(unknown)} (known: {', '.join(GROUPS)})")
        return 2
    return run(names)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
