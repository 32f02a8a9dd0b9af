"""Fleet mode, any replica answers any request: actions, consoles, stats, failover, outages.

Three ``virtumancer serve`` processes on one throwaway PostgreSQL cluster; hosts on
``test+unix`` (libvirtd) and the real ``qemu:///system`` with a tiny KVM guest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import Guest, GuestFactory, PostgresCluster
from tests.server.conftest import ServerFactory, ServerProcess, wait_for
from tests.server.test_fleet import Fleet, host_state, owners, vms_of
from virtumancer.testing import virsh

pytestmark = [pytest.mark.postgres, pytest.mark.libvirt, pytest.mark.anyio]

_WAIT_S = 90.0  # generous: a deadline for a broken fleet, not a timing assertion
QEMU_URI = "qemu:///system"
RUNNING, SHUTOFF = 1, 5


def _start_fleet(server_factory: ServerFactory, database_url: str, hosts: dict[str, str]) -> Fleet:
    replicas = [
        server_factory(database_url=database_url, demo=False, extra_args=("--replica-id", f"r{n}"))
        for n in range(3)
    ]
    with replicas[0].client() as http:
        for host_id, uri in hosts.items():
            response = http.post("/hosts", json={"id": host_id, "uri": uri})
            assert response.status_code in (200, 201), response.text
    return Fleet(replicas)


def _one_each(fleet: Fleet, hosts: tuple[str, ...]) -> dict[str, str]:
    """Host id -> owner once every host has exactly one owner and each replica one host."""
    witness = fleet.alive()[0]
    try:
        seen = owners(witness)
    except httpx.HTTPError:
        return {}
    if sorted(seen) != sorted(hosts) or any(len(o) != 1 for o in seen.values()):
        return {}
    owner_of = {host_id: o[0] for host_id, o in seen.items()}
    if len(set(owner_of.values())) != len(hosts):
        return {}
    return owner_of


async def _spread(fleet: Fleet, hosts: tuple[str, ...]) -> dict[str, str]:
    owner_of: dict[str, str] = await wait_for(
        lambda: _one_each(fleet, hosts), within=_WAIT_S, interval=0.5
    )
    for host_id, owner in owner_of.items():
        replica = fleet.by_id(owner)
        await wait_for(
            lambda r=replica, h=host_id: host_state(r, h) == "CONNECTED",  # type: ignore[misc]
            within=_WAIT_S,
        )
    return owner_of


async def _message(
    socket: ClientConnection, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    with anyio.fail_after(_WAIT_S):
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if wanted(message):
                return message


def _vms_changed(host_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "vms-changed" and m["payload"]["hostId"] == host_id


def _ws(replica: ServerProcess) -> connect:
    return connect(f"ws://127.0.0.1:{replica.port}/ws", additional_headers=replica.headers)


def _sql(database_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as db:
        return list(db.execute(query).fetchall())


def _vm_state(replica: ServerProcess, host_id: str, name: str) -> int | None:
    for vm in vms_of(replica, host_id):
        if vm["name"] == name:
            return int(vm["state"])
    return None


@pytest.fixture
def guest(kvm_guest_factory: GuestFactory) -> Guest:
    return kvm_guest_factory()


@pytest.fixture
def kvm_fleet(
    server_factory: ServerFactory,
    fresh_postgres_url: str,
    test_node_factory: Callable[..., Path],
    libvirtd: str,
    guest: Guest,
) -> Fleet:
    hosts = {
        "fa": f"test+unix://{test_node_factory(domains=4)}",
        "fb": f"test+unix://{test_node_factory(domains=4)}",
        "kvm": QEMU_URI,
    }
    fleet = _start_fleet(server_factory, fresh_postgres_url, hosts)
    with fleet.replicas[0].client() as http:
        response = http.post(f"/hosts/kvm/vms/{guest.name}/import")
        assert response.status_code in (200, 202, 204), response.text
    return fleet


KVM_HOSTS = ("fa", "fb", "kvm")


@pytest.mark.kvm
async def test_a_replica_that_does_not_own_the_host_acts_on_it_and_opens_its_console(
    kvm_fleet: Fleet, guest: Guest
) -> None:
    owner_of = await _spread(kvm_fleet, KVM_HOSTS)
    owner = kvm_fleet.by_id(owner_of["fb"])
    other = next(r for r in kvm_fleet.replicas if r is not owner)
    # an import through a replica that does not own the host
    with other.client() as http:
        assert http.post("/hosts/fb/vms/import-all").status_code == 202
    await wait_for(lambda: len(vms_of(owner, "fb")) == 4, within=_WAIT_S)
    await wait_for(lambda: _vm_state(owner, "fb", "guest-0000") == RUNNING, within=_WAIT_S)

    async with _ws(owner) as socket:
        with other.client() as http:
            response = http.post("/hosts/fb/vms/guest-0000/action", json={"action": "destroy"})
            assert response.status_code in (200, 202, 204), response.text
        # the owner's WebSocket clients hear of it, and the owner lists the VM shut off
        await _message(socket, _vms_changed("fb"))
    await wait_for(lambda: _vm_state(owner, "fb", "guest-0000") == SHUTOFF, within=_WAIT_S)

    # a power action on the real KVM host through a replica that does not own it
    kvm_owner = kvm_fleet.by_id(owner_of["kvm"])
    kvm_other = next(r for r in kvm_fleet.replicas if r is not kvm_owner)
    with kvm_other.client() as http:
        response = http.post(f"/hosts/kvm/vms/{guest.name}/action", json={"action": "suspend"})
        assert response.status_code in (200, 202, 204), response.text
    assert guest.state() == "paused"
    await wait_for(lambda: _vm_state(kvm_owner, "kvm", guest.name) == 3, within=_WAIT_S)
    with kvm_other.client() as http:
        response = http.post(f"/hosts/kvm/vms/{guest.name}/action", json={"action": "resume"})
        assert response.status_code in (200, 202, 204), response.text

    # the console of a VM on a host another replica owns
    url = f"ws://127.0.0.1:{kvm_other.port}/api/v1/hosts/kvm/vms/{guest.name}/console"
    async with connect(
        url,
        subprotocols=[Subprotocol("binary")],
        additional_headers=kvm_other.headers,
        max_size=None,
        open_timeout=30,
    ) as console:
        with anyio.fail_after(_WAIT_S):
            banner = await console.recv()
        assert isinstance(banner, bytes)
        assert banner.startswith(b"RFB 003.008")


@pytest.mark.kvm
async def test_stats_reach_a_subscriber_on_a_replica_that_does_not_own_the_host(
    kvm_fleet: Fleet, guest: Guest, fresh_postgres_url: str
) -> None:
    owner_of = await _spread(kvm_fleet, KVM_HOSTS)
    other = next(r for r in kvm_fleet.replicas if r is not kvm_fleet.by_id(owner_of["kvm"]))
    subscribe = {"hostId": "kvm", "vmName": guest.name}
    async with _ws(other) as socket:
        await socket.send(json.dumps({"type": "subscribe-vm-stats", "payload": subscribe}))
        for _ in range(2):  # the first sample, then one with rates
            update = await _message(
                socket,
                lambda m: m["type"] == "vm-stats-updated" and m["payload"]["hostId"] == "kvm",
            )
        assert update["payload"]["vmName"] == guest.name
        assert update["payload"]["stats"]["state"] == RUNNING
        assert update["payload"]["stats"]["cpu_time"] > 0
        wanted = _sql(fresh_postgres_url, "SELECT replica_id, host_id FROM stats_subscriptions")
        assert wanted == [(other.extra_args[-1], "kvm")]
    # the last subscriber anywhere left: the subscription is gone, so the owner stops
    await wait_for(
        lambda: not _sql(fresh_postgres_url, "SELECT 1 FROM stats_subscriptions"),
        within=_WAIT_S,
    )


@pytest.mark.kvm
async def test_virsh_destroy_after_the_kvm_owner_is_killed_reaches_a_third_replica(
    kvm_fleet: Fleet, guest: Guest
) -> None:
    owner_of = await _spread(kvm_fleet, KVM_HOSTS)
    victim_id = owner_of["kvm"]
    victim = kvm_fleet.by_id(victim_id)
    assert victim.process is not None
    killed_at = time.monotonic()
    victim.process.kill()  # kill -9: no lease handed back
    victim.process.wait()
    victim.process = None
    witness = kvm_fleet.alive()[0]

    def new_owner() -> str | None:
        try:
            found = owners(witness).get("kvm", [])
            if (
                len(found) == 1
                and found[0] != victim_id
                and host_state(kvm_fleet.by_id(found[0]), "kvm") == "CONNECTED"
            ):
                return found[0]
        except httpx.HTTPError:
            pass
        return None

    taken_by: str = await wait_for(new_owner, within=_WAIT_S, interval=0.2)
    took = time.monotonic() - killed_at
    print(f"\nkvm host failover (kill -9 -> CONNECTED elsewhere): {took:.1f} s")
    third = next(r for r in kvm_fleet.alive() if r is not kvm_fleet.by_id(taken_by))
    async with _ws(third) as socket:
        virsh(QEMU_URI, "destroy", guest.name)  # outside Virtumancer: only events tell
        await _message(socket, _vms_changed("kvm"))
    await wait_for(lambda: _vm_state(third, "kvm", guest.name) == SHUTOFF, within=_WAIT_S)


async def test_the_fleet_recovers_from_a_database_outage_without_duplicates(
    server_factory: ServerFactory,
    own_postgres: PostgresCluster,
    test_node_factory: Callable[..., Path],
    libvirtd: str,
) -> None:
    hosts = {h: f"test+unix://{test_node_factory(domains=4)}" for h in ("fa", "fb", "fc")}
    fleet = _start_fleet(server_factory, own_postgres.url, hosts)
    with fleet.replicas[0].client() as http:
        for host_id in hosts:
            assert http.post(f"/hosts/{host_id}/vms/import-all").status_code == 202
    await _spread(fleet, tuple(hosts))
    await wait_for(
        lambda: all(len(vms_of(fleet.replicas[0], h)) == 4 for h in hosts), within=_WAIT_S
    )

    own_postgres.stop()
    await anyio.sleep(20)  # the outage (not a measurement)
    own_postgres.start()

    owner_of = await _spread(fleet, tuple(hosts))
    assert all(r.process is not None and r.process.poll() is None for r in fleet.replicas)
    assert sorted(owner_of.values()) == ["r0", "r1", "r2"]
    url = own_postgres.url
    assert (
        _sql(url, "SELECT host_id, count(*) FROM host_leases GROUP BY host_id HAVING count(*) > 1")
        == []
    )
    assert (
        _sql(url, "SELECT host_id, uuid FROM vms GROUP BY host_id, uuid HAVING count(*) > 1") == []
    )
    assert _sql(url, "SELECT count(*) FROM vms") == [(12,)]
    assert _sql(url, "SELECT count(*) FROM hosts") == [(3,)]
    assert sorted(_sql(url, "SELECT id FROM replicas")) == [("r0",), ("r1",), ("r2",)]
    # and the fleet works again: an action on one replica reaches a client of another
    async with _ws(fleet.replicas[2]) as socket:
        with fleet.replicas[0].client() as http:
            response = http.post("/hosts/fc/vms/guest-0001/action", json={"action": "destroy"})
            assert response.status_code in (200, 202, 204), response.text
        await _message(socket, _vms_changed("fc"))


@pytest.mark.kvm
async def test_a_console_on_a_replica_that_does_not_own_the_host_ends_when_the_vm_stops(
    kvm_fleet: Fleet, guest: Guest
) -> None:
    owner_of = await _spread(kvm_fleet, KVM_HOSTS)
    other = next(r for r in kvm_fleet.replicas if r is not kvm_fleet.by_id(owner_of["kvm"]))
    url = f"ws://127.0.0.1:{other.port}/api/v1/hosts/kvm/vms/{guest.name}/console"
    async with connect(
        url,
        subprotocols=[Subprotocol("binary")],
        additional_headers=other.headers,
        max_size=None,
        open_timeout=30,
    ) as console:
        with anyio.fail_after(_WAIT_S):
            assert await console.recv() == b"RFB 003.008\n"
        virsh(QEMU_URI, "destroy", guest.name)  # outside Virtumancer: only the owner hears it
        with anyio.fail_after(_WAIT_S), pytest.raises(ConnectionClosed) as closed:
            await _drain(console)
    # qemu's server hanging up (1000) or the replica closing it on the owner's change (1001)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) in {
        (1000, "the console closed"),
        (1001, "the console went away"),
    }


async def _drain(socket: ClientConnection) -> None:
    while True:
        await socket.recv()
