"""Fleet mode: three ``virtumancer serve`` processes on one PostgreSQL (ADR 0015).

Real processes, a real throwaway PostgreSQL cluster, hosts on ``test+unix`` (libvirtd).
Every host has one owner; a killed owner's hosts move to a live replica; notifications
and settings cross replicas.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.server.conftest import ServerFactory, ServerProcess, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.libvirt, pytest.mark.anyio]

_WAIT_S = 60.0  # generous: a deadline for a broken fleet, not a timing assertion
HOSTS = ("fa", "fb", "fc")


@attrs.frozen
class Fleet:
    replicas: list[ServerProcess]

    def by_id(self, replica_id: str) -> ServerProcess:
        return self.replicas[int(replica_id.removeprefix("r"))]

    def alive(self) -> list[ServerProcess]:
        return [r for r in self.replicas if r.process is not None]


def cluster(server: ServerProcess) -> dict[str, Any]:
    with server.client() as http:
        response = http.get("/cluster")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def owners(server: ServerProcess) -> dict[str, list[str]]:
    """Host id -> the live replicas that own it, as ``server`` sees the fleet."""
    seen: dict[str, list[str]] = {}
    for replica in cluster(server)["replicas"]:
        if replica["alive"]:
            for host_id in replica["hosts"]:
                seen.setdefault(host_id, []).append(replica["id"])
    return seen


def host_state(server: ServerProcess, host_id: str) -> str:
    with server.client() as http:
        hosts = {h["id"]: h for h in http.get("/hosts").json()}
    return str(hosts[host_id]["state"])


def vms_of(server: ServerProcess, host_id: str) -> list[dict[str, Any]]:
    with server.client() as http:
        vms: list[dict[str, Any]] = http.get(f"/hosts/{host_id}/vms").json()
    return vms


@pytest.fixture
def fleet(
    server_factory: ServerFactory,
    fresh_postgres_url: str,
    test_node_factory: Callable[..., Path],
    libvirtd: str,
) -> Fleet:
    replicas = [
        server_factory(
            database_url=fresh_postgres_url,
            demo=False,
            extra_args=("--replica-id", f"r{n}"),
        )
        for n in range(3)
    ]
    with replicas[0].client() as http:
        for host_id in HOSTS:
            uri = f"test+unix://{test_node_factory(domains=4)}"
            response = http.post("/hosts", json={"id": host_id, "uri": uri})
            assert response.status_code in (200, 201), response.text
    return Fleet(replicas)


def _spread_evenly(fleet: Fleet) -> dict[str, list[str]]:
    seen = owners(fleet.replicas[1])
    if sorted(seen) != sorted(HOSTS) or any(len(o) != 1 for o in seen.values()):
        return {}
    per_replica = sorted(sum(o == [r] for o in seen.values()) for r in ("r0", "r1", "r2"))
    return seen if per_replica == [1, 1, 1] else {}


async def test_every_host_has_exactly_one_owner_and_the_share_is_even(fleet: Fleet) -> None:
    seen = await wait_for(lambda: _spread_evenly(fleet), within=_WAIT_S, interval=0.5)
    body = cluster(fleet.replicas[2])
    assert body["answered_by"] == "r2"
    assert body["mode"] == "fleet"
    assert {r["id"] for r in body["replicas"]} == {"r0", "r1", "r2"}
    assert all(r["address"].startswith("127.0.0.1:") for r in body["replicas"])
    for host_id, (owner,) in seen.items():
        # the owner holds the live connection
        replica = fleet.by_id(owner)
        await wait_for(
            lambda r=replica, h=host_id: host_state(r, h) == "CONNECTED",  # type: ignore[misc]
            within=_WAIT_S,
        )


async def test_a_killed_owner_s_host_is_connected_on_another_replica(fleet: Fleet) -> None:
    seen = await wait_for(lambda: _spread_evenly(fleet), within=_WAIT_S, interval=0.5)
    victim_id = seen["fa"][0]
    victim = fleet.by_id(victim_id)
    witness = next(r for r in fleet.replicas if r is not victim)
    assert victim.process is not None
    killed_at = time.monotonic()
    victim.process.kill()  # kill -9: no lease handed back
    victim.process.wait()
    victim.process = None

    def taken_over() -> bool:
        try:
            owner = owners(witness).get("fa", [])
            return (
                len(owner) == 1
                and owner[0] != victim_id
                and host_state(fleet.by_id(owner[0]), "fa") == "CONNECTED"
            )
        except httpx.HTTPError:
            return False

    await wait_for(taken_over, within=_WAIT_S, interval=0.2)
    print(f"\nfailover (kill -9 -> CONNECTED elsewhere): {time.monotonic() - killed_at:.1f} s")
    # and every host still has exactly one live owner
    final = owners(witness)
    assert sorted(final) == sorted(HOSTS)
    assert all(len(o) == 1 and o[0] != victim_id for o in final.values())


async def test_vms_changed_on_one_replica_reaches_a_websocket_on_another(fleet: Fleet) -> None:
    seen = await wait_for(lambda: _spread_evenly(fleet), within=_WAIT_S, interval=0.5)
    owner = fleet.by_id(seen["fb"][0])
    other = next(r for r in fleet.replicas if r is not owner)
    with owner.client() as http:
        assert http.post("/hosts/fb/vms/import-all").status_code == 202
    # the import is visible on the other replica (it reads the database)
    await wait_for(lambda: len(vms_of(other, "fb")) == 4, within=_WAIT_S)

    url = f"ws://127.0.0.1:{other.port}/ws"
    async with connect(url, additional_headers=other.headers) as socket:
        with owner.client() as http:
            response = http.post("/hosts/fb/vms/guest-0000/action", json={"action": "destroy"})
            assert response.status_code in (200, 202, 204), response.text
        with anyio.fail_after(_WAIT_S):
            while True:
                message = json.loads(await socket.recv())
                if message["type"] == "vms-changed" and message["payload"]["hostId"] == "fb":
                    break
    # what the notification promised is there: the other replica lists the VM shut off
    vms = {vm["name"]: vm for vm in vms_of(other, "fb")}
    assert vms["guest-0000"]["state"] != 1


async def test_a_settings_change_on_one_replica_is_seen_on_another(fleet: Fleet) -> None:
    first, _, third = fleet.replicas
    with first.client() as http:
        response = http.put("/settings/metrics", json={"stats_interval_seconds": 7})
        assert response.status_code == 200, response.text

    def seen_on_third() -> bool:
        with third.client() as http:
            runtime = http.get("/settings/metrics/runtime").json()
        return bool(runtime["stats_interval_seconds"] == 7)

    await wait_for(seen_on_third, within=_WAIT_S)


async def test_sqlite_cluster_lists_the_single_process(server_factory: ServerFactory) -> None:
    server = server_factory(extra_args=("--replica-id", "solo"))
    body = cluster(server)
    assert body["answered_by"] == "solo"
    assert body["mode"] == "single"
    (me,) = body["replicas"]
    assert me["id"] == "solo"
    assert me["alive"] is True
    assert me["hosts"] == ["demo"]


class CuttableProxy:
    """A TCP forwarder to PostgreSQL whose every connection can be cut (a network cut)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cut = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def sever(self) -> None:
        self.cut = True
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.sever()
        self.listener.close()


async def test_a_replica_cut_off_from_the_database_stops_owning_then_recovers(
    fresh_postgres_url: str, test_uri: str
) -> None:
    from sqlalchemy.engine import make_url

    from virtumancer.manager import Virtumancer

    real = make_url(fresh_postgres_url)
    assert real.port is not None
    proxy = CuttableProxy(real.port)
    proxied = real.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        async with Virtumancer(proxied, replica_id="cut") as vm:
            await vm.add_host("h", test_uri)
            assert vm.fleet.owned == {"h"}
            proxy.sever()
            cut_at = time.monotonic()
            await wait_for(lambda: not vm.pool.hosts(), within=_WAIT_S)
            print(f"\nfenced {time.monotonic() - cut_at:.1f} s after the cut (lease TTL 10 s)")
            assert vm.fleet.owned == set()
            proxy.cut = False  # the database is reachable again: the lease is taken back
            await wait_for(
                lambda: [h.state.value for h in vm.pool.hosts()] == ["CONNECTED"],
                within=_WAIT_S,
            )
            assert vm.fleet.owned == {"h"}
            body = await vm.cluster()
            assert [(r.id, r.hosts) for r in body.replicas] == [("cut", ["h"])]
    finally:
        proxy.close()
