"""Watch a host's lifecycle events with the async pool while a domain is suspended and resumed.

python examples/watch_events.py [URI]      # default: test:///default
"""

from __future__ import annotations

import sys

import anyio

import virtumancer


async def main(uri: str) -> None:
    async with virtumancer.ConnectionPool() as pool:
        host = await pool.add_host("example", uri)
        domains = await host.list_domains()
        running = next(d for d in domains if d.state == virtumancer.DomainState.RUNNING)
        async with pool.subscribe() as events:
            await host.power(running.name, virtumancer.PowerAction.SUSPEND)
            await host.power(running.name, virtumancer.PowerAction.RESUME)
            seen = 0
            with anyio.fail_after(10):
                async for event in events:
                    if isinstance(event, virtumancer.DomainLifecycleEvent):
                        print(f"{event.domain_name}: {event.event}")
                        seen += 1
                        if seen == 2:
                            break


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "test:///default")
