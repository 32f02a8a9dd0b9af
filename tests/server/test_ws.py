"""``/ws`` through a real ``virtumancer serve`` process with a real WebSocket client.

Against the demo host (libvirt's test driver inside the server) and a real KVM guest on
``qemu:///system`` changed behind the server's back with ``virsh``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.server.conftest import ServerProcess
from virtumancer.testing import virsh

pytestmark = [pytest.mark.libvirt, pytest.mark.anyio]

Message = dict[str, Any]
_WAIT_S = 60.0


def ws_url(server: ServerProcess, token: str | None = None) -> str:
    base = f"ws://127.0.0.1:{server.port}/ws"
    return f"{base}?token={token}" if token else base


@pytest.fixture
async def ws(server: ServerProcess) -> AsyncIterator[ClientConnection]:
    async with connect(ws_url(server), additional_headers=server.headers) as socket:
        yield socket


@pytest.fixture
def fast_stats(server: ServerProcess) -> None:
    """Sample every half second (the shortest interval the settings allow)."""
    with server.client() as http:
        response = http.put("/settings/metrics", json={"stats_interval_seconds": 0.5})
        assert response.status_code == 200, response.text


async def receive_until(
    socket: ClientConnection,
    predicate: Callable[[Message], bool],
    *,
    seen: list[Message] | None = None,
) -> Message:
    """Return the first message matching ``predicate``; others go to ``seen``."""
    with anyio.fail_after(_WAIT_S):
        while True:
            message: Message = json.loads(await socket.recv())
            if predicate(message):
                return message
            if seen is not None:
                seen.append(message)


def is_type(kind: str, **payload: object) -> Callable[[Message], bool]:
    def check(message: Message) -> bool:
        body = message.get("payload") or {}
        return message.get("type") == kind and all(body.get(k) == v for k, v in payload.items())

    return check


async def send(socket: ClientConnection, kind: str, **payload: object) -> None:
    await socket.send(json.dumps({"type": kind, "payload": payload}))


async def barrier(socket: ClientConnection, seen: list[Message]) -> None:
    """Round-trip a malformed message: everything the server queued before it is in ``seen``."""
    await socket.send("barrier, not JSON")
    await receive_until(socket, is_type("error", code="invalid_json"), seen=seen)


# --- protocol errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": "reboot-everything", "payload": {}}', "unknown_type"),
        ('{"payload": {"hostId": "demo", "vmName": "web-01"}}', "unknown_type"),
        ('{"type": "subscribe-vm-stats"}', "invalid_payload"),
        ('{"type": "subscribe-vm-stats", "payload": {"hostId": "demo"}}', "invalid_payload"),
        (
            '{"type": "subscribe-vm-stats", "payload": {"hostId": 1, "vmName": "x"}}',
            "invalid_payload",
        ),
        ('{"type": "unsubscribe-vm-stats", "payload": "web-01"}', "invalid_payload"),
        (
            '{"type": "subscribe-vm-stats", "payload": {"hostId": "demo", "vmName": "nope"}}',
            "not_found",
        ),
        (
            '{"type": "subscribe-vm-stats", "payload": {"hostId": "nope", "vmName": "x"}}',
            "not_found",
        ),
    ],
)
async def test_malformed_message_gets_an_error_and_the_socket_stays_open(
    ws: ClientConnection, raw: str, code: str
) -> None:
    await ws.send(raw)
    error = await receive_until(ws, is_type("error"))
    assert error["payload"]["code"] == code
    assert error["payload"]["message"]
    # still open and still serving: a valid subscription works afterwards
    await send(ws, "subscribe-vm-stats", hostId="demo", vmName="web-01")
    stats = await receive_until(ws, is_type("vm-stats-updated", hostId="demo", vmName="web-01"))
    assert stats["payload"]["stats"]["state"] == 1


async def test_binary_frame_gets_an_error_too(ws: ClientConnection) -> None:
    await ws.send(b'{"type": "subscribe-vm-stats"}')
    error = await receive_until(ws, is_type("error"))
    assert error["payload"]["code"] == "invalid_message"
    await barrier(ws, [])


# --- auth ----------------------------------------------------------------------------


async def test_socket_without_or_with_a_wrong_token_is_refused(server: ServerProcess) -> None:
    for url, headers in [
        (ws_url(server), {}),
        (ws_url(server, "wrong-token"), {}),
        (ws_url(server), {"Authorization": "Bearer wrong-token"}),
    ]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code in (401, 403)


async def test_token_query_parameter_and_session_cookie_are_accepted(server: ServerProcess) -> None:
    assert server.token is not None
    async with connect(ws_url(server, server.token)) as socket:
        await barrier(socket, [])
    with server.client() as http:
        response = http.post("/session")
        assert response.status_code == 204
        cookie = response.headers["set-cookie"].split(";", 1)[0]
    async with connect(ws_url(server), additional_headers={"Cookie": cookie}) as socket:
        await barrier(socket, [])


async def test_foreign_origin_is_refused(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            ws_url(server),
            additional_headers=server.headers,
            origin="http://evil.example",  # type: ignore[arg-type]
        ):
            pass
    assert refused.value.response.status_code == 403
    own = f"http://127.0.0.1:{server.port}"
    async with connect(ws_url(server), additional_headers=server.headers, origin=own) as socket:  # type: ignore[arg-type]
        await barrier(socket, [])


# --- live stats ----------------------------------------------------------------------


@pytest.mark.usefixtures("fast_stats")
async def test_stats_go_only_to_the_subscriber_and_stop_after_unsubscribe(
    server: ServerProcess,
) -> None:
    async with (
        connect(ws_url(server), additional_headers=server.headers) as subscriber,
        connect(ws_url(server), additional_headers=server.headers) as bystander,
    ):
        await send(subscriber, "subscribe-vm-stats", hostId="demo", vmName="web-01")
        await send(subscriber, "subscribe-vm-stats", hostId="demo", vmName="web-02")
        first = await receive_until(subscriber, is_type("vm-stats-updated", vmName="web-01"))
        stats = first["payload"]["stats"]
        assert first["payload"]["hostId"] == "demo"
        for field in ("state", "memory", "max_mem", "vcpu", "cpu_time", "disk_stats", "net_stats"):
            assert field in stats, field
        # rates arrive from the second sample on
        later = await receive_until(
            subscriber,
            lambda m: (
                is_type("vm-stats-updated", vmName="web-01")(m) and m["payload"]["stats"]["rates"]
            ),
        )
        assert set(later["payload"]["stats"]["rates"]) >= {
            "cpu_percent",
            "disk_read_bps",
            "disk_write_bps",
            "net_rx_bps",
            "net_tx_bps",
        }

        # the other client got no stats at all
        bystander_seen: list[Message] = []
        await barrier(bystander, bystander_seen)
        assert not [m for m in bystander_seen if m["type"] == "vm-stats-updated"]

        # unsubscribe web-01: after the barrier, web-02 keeps coming and web-01 never again
        await send(subscriber, "unsubscribe-vm-stats", hostId="demo", vmName="web-01")
        await barrier(subscriber, [])
        after: list[Message] = []
        for _ in range(3):
            await receive_until(
                subscriber, is_type("vm-stats-updated", vmName="web-02"), seen=after
            )
        assert not [m for m in after if is_type("vm-stats-updated", vmName="web-01")(m)]


@pytest.mark.usefixtures("fast_stats")
async def test_subscribing_twice_is_one_subscription_and_unknown_unsubscribe_is_harmless(
    ws: ClientConnection,
) -> None:
    await send(ws, "unsubscribe-vm-stats", hostId="demo", vmName="web-01")  # never subscribed
    await send(ws, "subscribe-vm-stats", hostId="demo", vmName="db-01")
    await send(ws, "subscribe-vm-stats", hostId="demo", vmName="db-01")
    await send(ws, "subscribe-vm-stats", hostId="demo", vmName="web-02")  # a clock
    seen: list[Message] = []
    await barrier(ws, seen)
    assert not [m for m in seen if m["type"] == "error"]
    await receive_until(ws, is_type("vm-stats-updated", vmName="db-01"))
    # one unsubscribe ends it: the second subscribe did not add a second reference
    await send(ws, "unsubscribe-vm-stats", hostId="demo", vmName="db-01")
    await barrier(ws, [])
    after: list[Message] = []
    for _ in range(3):
        await receive_until(ws, is_type("vm-stats-updated", vmName="web-02"), seen=after)
    assert not [m for m in after if is_type("vm-stats-updated", vmName="db-01")(m)]


# --- a real KVM guest changed behind the server's back ------------------------------


@pytest.mark.kvm
@pytest.mark.usefixtures("fast_stats")
async def test_kvm_guest_stats_and_virsh_destroy_reach_the_socket(
    server: ServerProcess, kvm_guest: Any
) -> None:
    with server.client() as http:
        added = http.post("/hosts", json={"id": "kvm", "uri": kvm_guest.uri})
        assert added.status_code == 200, added.text
        imported = http.post(f"/hosts/kvm/vms/{kvm_guest.name}/import")
        assert imported.status_code == 202, imported.text

    async with connect(ws_url(server), additional_headers=server.headers) as socket:
        await send(socket, "subscribe-vm-stats", hostId="kvm", vmName=kvm_guest.name)
        message = await receive_until(
            socket,
            lambda m: (
                is_type("vm-stats-updated", hostId="kvm", vmName=kvm_guest.name)(m)
                and m["payload"]["stats"]["rates"] is not None
            ),
        )
        stats = message["payload"]["stats"]
        assert stats["state"] == 1
        assert stats["memory"] > 0
        assert stats["max_mem"] >= stats["memory"]
        assert stats["vcpu"] >= 1
        assert stats["cpu_time"] > 0
        assert stats["disk_stats"], "the guest has a disk"
        assert 0.0 <= stats["rates"]["cpu_percent"] <= 100.0

        await anyio.to_thread.run_sync(virsh, kvm_guest.uri, "destroy", kvm_guest.name)
        await receive_until(socket, is_type("vms-changed", hostId="kvm"))

        # the destroyed guest's samples now say "shut off"
        await receive_until(
            socket,
            lambda m: (
                is_type("vm-stats-updated", vmName=kvm_guest.name)(m)
                and m["payload"]["stats"]["state"] == 5
            ),
        )


async def test_adding_a_host_sends_hosts_changed(
    server: ServerProcess, ws: ClientConnection, test_uri: str
) -> None:
    await barrier(ws, [])
    with server.client() as http:
        assert http.post("/hosts", json={"id": "extra", "uri": test_uri}).status_code == 200
    await receive_until(ws, is_type("hosts-changed"))
    with server.client() as http:
        assert http.delete("/hosts/extra").status_code in (200, 204)
    await receive_until(ws, is_type("hosts-changed"))
