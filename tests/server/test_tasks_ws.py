"""``task-updated`` on ``/ws`` through a real server: a clone's task, from start to result."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import ClientConnection

from tests.server.conftest import ServerProcess

from .test_ws import barrier, is_type, receive_until, ws

pytestmark = [pytest.mark.libvirt, pytest.mark.anyio]

__all__ = ["ws"]
MIB = 1024 * 1024


async def test_a_clone_task_reaches_the_socket_until_it_succeeded(
    server: ServerProcess, ws: ClientConnection
) -> None:
    await barrier(ws, [])
    spec = {
        "name": "ws-src",
        "memory_bytes": 128 * MIB,
        "disks": [{"kind": "new_volume", "pool": "demo-pool0", "size_bytes": 64 * MIB}],
    }
    with server.client() as http:
        created = http.post("/hosts/demo/vms", json=spec)
        assert created.status_code == 201, created.text
        started = http.post("/hosts/demo/vms/ws-src/clone", json={"name": "ws-dst"})
        assert started.status_code == 202, started.text
    task_id = started.json()["id"]
    seen: list[dict[str, object]] = []
    done = await receive_until(
        ws, is_type("task-updated", id=task_id, state="succeeded"), seen=seen
    )
    assert done["payload"]["result"]["name"] == "ws-dst"
    # The clone's vms-changed comes in the same batch or before (the record is written first).
    assert any(is_type("vms-changed", hostId="demo")(message) for message in seen)
    with server.client() as http:
        assert http.get(f"/tasks/{task_id}").json()["state"] == "succeeded"
