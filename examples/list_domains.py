"""List the domains of a host with the blocking facade, as a plain script or a notebook would.

python examples/list_domains.py [URI]      # default: test:///default
"""

from __future__ import annotations

import sys

import virtumancer


def main(uri: str) -> None:
    with virtumancer.connect(uri) as host:
        for domain in host.domains():
            state = domain.state.name if domain.state is not None else "?"
            print(f"{domain.name:<24} {state:<10} {domain.vcpus} vCPU {domain.memory_bytes} B")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test:///default")
