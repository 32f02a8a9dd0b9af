"""A stalled transport with calls in flight, run in a process of its own.

A ``test+unix`` host reaches libvirtd through a UNIX-socket proxy of ours. Several calls
(``lookupByName`` RPCs) start, the proxy "freezes" (holds every byte, keeps both sockets
open: a silent network, not a refused one), and after ``--freeze`` seconds it relays again.
The process must survive (a crash here was a ``g_main_loop_quit`` assertion and a segfault in
the abandoned worker thread), the callers must be released when keepalive declares the
connection lost (not at the call timeout), and the host must come back CONNECTED and answer.

Runs apart from pytest (``test_stall.py``, ``benchmarks/stall_repro.py``) so a segfault is a
failed run, not a dead test runner. Prints one JSON line and leaves with ``os._exit`` (a
worker thread may still be inside libvirt).

    python -m tests.pool._stall_scenario --freeze 20 --calls 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio

from tests.pool._proxy import FreezableProxy
from tests.pool._support import state_of, test_pool, wait_for_event
from virtumancer import ConnectionState, HostStateChanged, VirtumancerError
from virtumancer.testing import make_test_node_xml

LIBVIRT_SOCKET = "/var/run/libvirt/libvirt-sock"


def prepare(directory: Path) -> tuple[Path, FreezableProxy]:
    """Write a 10-domain test node into ``directory`` and start a proxy there."""
    node = directory / "node.xml"
    node.write_text(make_test_node_xml(domains=10))
    directory.chmod(0o755)  # libvirtd reads the node file itself
    node.chmod(0o644)
    return node, FreezableProxy.unix(directory / "proxy.sock", LIBVIRT_SOCKET)


async def scenario(
    args: argparse.Namespace, directory: Path, node: Path, proxy: FreezableProxy
) -> dict[str, object]:
    # test:///default is shared by all connections to the daemon, so the pool spreads calls
    # over several connections; a node file is per connection, so they queue on one.
    path = "/default" if args.node == "default" else str(node)
    uri = f"test+unix://{path}?socket={proxy.path}"
    found: dict[str, object] = {"freeze_s": args.freeze, "calls": args.calls, "node": args.node}
    async with test_pool(
        extra_socket_dirs=[str(directory)],
        keepalive_interval=args.keepalive_interval,
        keepalive_count=args.keepalive_count,
        call_timeout=args.call_timeout,
        max_calls_per_host=args.calls,
    ) as pool:
        host = await pool.add_host("stalled", uri)
        names = [domain.name for domain in await host.list_domains()]
        found["before"] = state_of(host).value
        found["threads_before"] = threading.active_count()
        async with pool.subscribe() as events:
            outcomes: list[str] = []
            released_s: list[float] = []
            frozen_at = time.monotonic()
            proxy.frozen.set()

            async def call(index: int) -> None:
                try:
                    await host.get_domain(names[index % len(names)])  # lookupByName
                except VirtumancerError as exc:
                    outcomes.append(type(exc).__name__)
                else:
                    outcomes.append("ok")
                released_s.append(round(time.monotonic() - frozen_at, 1))

            async def unfreeze() -> None:
                await anyio.sleep(args.freeze)
                proxy.frozen.clear()

            async with anyio.create_task_group() as group:
                group.start_soon(unfreeze)
                for index in range(args.calls):
                    group.start_soon(call, index)
            found["outcomes"] = sorted(outcomes)
            found["released_s"] = sorted(released_s)
            if state_of(host) is not ConnectionState.CONNECTED:
                await wait_for_event(
                    events, HostStateChanged, lambda e: e.state is ConnectionState.CONNECTED
                )
        found["after"] = state_of(host).value
        found["answer"] = (await host.get_domain(names[0])).name == names[0]
        found["cpus"] = (await host.host_info()).node.cpus
        # Threads abandoned in the old connection wake up once traffic flows: give them time
        # to touch whatever they touch (the crash came a second or so after the unfreeze).
        await anyio.sleep(args.linger)
        found["answer_later"] = (await host.get_domain(names[-1])).name == names[-1]
        found["threads_after"] = threading.active_count()
    proxy.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--freeze", type=float, default=3.0, help="seconds the proxy is silent")
    parser.add_argument("--calls", type=int, default=2, help="calls in flight at the freeze")
    parser.add_argument("--keepalive-interval", type=int, default=1)
    parser.add_argument("--keepalive-count", type=int, default=2)
    parser.add_argument("--call-timeout", type=float, default=120.0)
    parser.add_argument(
        "--node",
        choices=["default", "file"],
        default="default",
        help="test:///default (one connection per call) or a node file (one connection)",
    )
    parser.add_argument("--linger", type=float, default=3.0, help="seconds to wait afterwards")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vm-stall-") as directory:
        node, proxy = prepare(Path(directory))
        result = anyio.run(scenario, args, Path(directory), node, proxy)
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
