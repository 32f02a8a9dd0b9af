"""Slow and stuck WebSocket clients: bounded server memory, newest sample wins, stuck → closed.

The app runs in a real uvicorn server inside the test's event loop (so the test can look at
the connection's outbox and use a short send timeout); the client is the ``websockets``
package over a real TCP socket whose receive buffer is made tiny, so a client that stops
reading really stalls the server's sends.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import falcon.asgi
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.server.conftest import AUTH, TOKEN, free_port, wait_for
from virtumancer.manager import Virtumancer
from virtumancer.models.domain import DomainState
from virtumancer.models.notifications import HostsChanged, VmsChanged
from virtumancer.models.stats import DomainStatsSample
from virtumancer.services.stats import StatsUpdate
from virtumancer_server import ws as ws_module
from virtumancer_server.app import create_app
from virtumancer_server.config import ServerConfig

pytestmark = [pytest.mark.libvirt, pytest.mark.anyio]

NodeFactory = Callable[..., Path]
VMS = 200


def _update(vm: str, cpu_time: int) -> StatsUpdate:
    sample = DomainStatsSample(
        domain_uuid=f"uuid-{vm}",
        domain_name=vm,
        timestamp_ns=cpu_time,
        wallclock=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        state=DomainState.RUNNING,
        cpu_time_ns=cpu_time,
    )
    return StatsUpdate(host_id="h", vm_name=vm, sample=sample, rates=None)


async def test_outbox_keeps_only_the_newest_sample_per_vm_and_merges_notifications() -> None:
    outbox = ws_module._Outbox()
    for n in range(10_000):
        outbox.stats(_update(f"vm{n % 3}", n))
        outbox.notify(VmsChanged(host_id="h"))
        outbox.notify(HostsChanged())
    batch = await outbox.take()
    assert [m["type"] for m in batch] == ["hosts-changed", "vms-changed"] + ["vm-stats-updated"] * 3
    newest = {m["payload"]["vmName"]: m["payload"]["stats"]["cpu_time"] for m in batch[2:]}
    assert newest == {"vm0": 9999, "vm1": 9997, "vm2": 9998}
    assert outbox.dropped == 10_000 - 3


@pytest.fixture
async def slow_server(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> AsyncIterator[tuple[str, ws_module.WebSocketResource]]:
    """A uvicorn server whose ``/ws-fast`` closes clients stuck for more than 1 s."""
    await manager.add_host("many", f"test://{test_node_factory(domains=VMS, running=VMS)}")
    await manager.update_metrics_settings({"stats_interval_seconds": 0.5})
    app: falcon.asgi.App[Any, Any] = create_app(ServerConfig(token=TOKEN), manager=manager)
    resource = ws_module.add_routes(
        app, manager, ServerConfig(token=TOKEN), send_timeout=1.0, path="/ws-fast"
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await wait_for(lambda: server.started, within=30)
        yield f"ws://127.0.0.1:{port}/ws-fast", resource
        server.should_exit = True


def _tiny_socket(url_port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", url_port))
    sock.setblocking(False)
    return sock


async def test_a_client_that_stops_reading_is_closed_and_its_subscriptions_end(
    slow_server: tuple[str, ws_module.WebSocketResource], manager: Virtumancer
) -> None:
    url, resource = slow_server
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    names = [f"guest-{n:04d}" for n in range(VMS)]
    async with connect(
        url, additional_headers=AUTH, sock=_tiny_socket(port), max_queue=1, ping_interval=None
    ) as ws:
        for name in names:
            await ws.send(
                json.dumps(
                    {"type": "subscribe-vm-stats", "payload": {"hostId": "many", "vmName": name}}
                )
            )
        # Stop reading. The server's sends stall, and after the send timeout it gives up.
        await wait_for(lambda: resource.connections == 0, within=120)
        # Everything this client subscribed to is released, so polling stopped.
        assert manager.stats.subscribed() == {}
        # The client, reading again, finds the connection closed (the close frame itself may
        # not get through the stuck pipe, so no particular close code is promised).
        with anyio.fail_after(60), pytest.raises(ConnectionClosed):
            await _drain(ws)


async def _drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def test_a_reading_client_is_not_closed(
    slow_server: tuple[str, ws_module.WebSocketResource],
) -> None:
    url, resource = slow_server
    async with connect(url, additional_headers=AUTH) as ws:
        for name in ("guest-0000", "guest-0001"):
            await ws.send(
                json.dumps(
                    {"type": "subscribe-vm-stats", "payload": {"hostId": "many", "vmName": name}}
                )
            )
        seen = 0
        with anyio.fail_after(60):
            while seen < 8:
                if json.loads(await ws.recv())["type"] == "vm-stats-updated":
                    seen += 1
        assert resource.connections == 1
