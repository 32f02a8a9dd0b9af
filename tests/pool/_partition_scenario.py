"""The partition scenario of ``test_partition.py``, run in its own process.

It runs apart from pytest because a libvirt call stuck on a dead transport can keep its
worker thread forever, and such a thread keeps an interpreter from exiting: the scenario
prints its findings and leaves with ``os._exit``.
"""

from __future__ import annotations

import json
import os
import sys

import anyio

from tests.pool._proxy import FreezableProxy
from tests.pool._support import state_of, test_pool, wait_for_event
from virtumancer import ConnectionState, HostStateChanged, HostUnavailableError


async def scenario(ssh_port: int, key: str) -> dict[str, object]:
    proxy = FreezableProxy.tcp(ssh_port)
    uri = f"qemu+ssh://root@127.0.0.1:{proxy.port}/system?keyfile={key}&no_verify=1"
    found: dict[str, object] = {}
    async with test_pool(keepalive_interval=1, keepalive_count=2, call_timeout=10) as pool:
        host = await pool.add_host("partitioned", uri)
        found["before"] = state_of(host).value
        async with pool.subscribe() as events:
            proxy.frozen.set()
            errors: list[str] = []

            async def call() -> None:
                try:
                    await host.host_info()
                except HostUnavailableError as exc:
                    errors.append(type(exc).__name__)

            async with anyio.create_task_group() as group:
                for _ in range(3):
                    group.start_soon(call)
            found["errors"] = sorted(errors)
            found["during"] = state_of(host).value
            proxy.frozen.clear()
            await wait_for_event(
                events, HostStateChanged, lambda e: e.state is ConnectionState.CONNECTED
            )
        found["after"] = state_of(host).value
        found["cpus"] = (await host.host_info()).node.cpus
    proxy.close()
    return found


def main() -> None:
    result = anyio.run(scenario, int(sys.argv[1]), sys.argv[2])
    print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
