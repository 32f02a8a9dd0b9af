"""The service as a user runs it: ``virtumancer serve`` under uvicorn, over real HTTP."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import ServerFactory, ServerProcess
from virtumancer.testing import virsh

pytestmark = pytest.mark.libvirt

# uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status says "terminated".
GRACEFUL_EXIT = {0, -signal.SIGTERM}


def poll(check: Any, *, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def test_demo_is_populated_over_http(server: ServerProcess) -> None:
    with server.client() as client:
        hosts = client.get("/hosts").json()
        assert [(h["id"], h["state"]) for h in hosts] == [("demo", "CONNECTED")]
        vms = client.get("/hosts/demo/vms").json()
        assert len(vms) == 6
        assert sum(vm["state"] == 1 for vm in vms) == 3
        assert len(client.get("/storage/pools").json()) == 2
        assert len(client.get("/networks").json()) == 2
        assert client.get("/dashboard/overview").json()["stats"]["total_vms"] == 6
        hardware = client.get("/hosts/demo/vms/db-01/hardware").json()
        assert hardware["disks"][0]["target"]["dev"] == "vda"
        assert client.get("/openapi.json").json()["openapi"] == "3.1.0"
        error = client.get("/hosts/demo/vms/nope/hardware")
        assert error.status_code == 404
        assert error.json()["error"]["code"] == "not_found"
    refused = httpx.get(f"{server.url}/api/v1/hosts")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{server.url}/api/v1/health").json() == {"ok": True}


@pytest.mark.kvm
def test_a_real_kvm_guest_through_the_service(server: ServerProcess, kvm_guest: Any) -> None:
    with server.client() as client:
        added = client.post("/hosts", json={"id": "kvm", "uri": "qemu:///system"})
        assert added.status_code == 200, added.text
        assert added.json()["state"] == "CONNECTED"

        discovered = poll(
            lambda: [
                vm
                for vm in client.get("/hosts/kvm/discovered-vms").json()
                if vm["name"] == kvm_guest.name
            ]
        )
        assert discovered[0]["domain_uuid"] == kvm_guest.uuid
        imported = client.post(f"/hosts/kvm/vms/{kvm_guest.name}/import")
        assert imported.status_code == 202, imported.text

        def managed() -> dict[str, Any] | None:
            for vm in client.get("/hosts/kvm/vms").json():
                if vm["name"] == kvm_guest.name:
                    return dict(vm)
            return None

        vm = poll(managed)
        assert vm["state"] == 1
        assert vm["graphics"] == {"vnc": True, "spice": True}
        assert vm["memory_bytes"] == 64 * 1024 * 1024

        hardware = client.get(f"/hosts/kvm/vms/{kvm_guest.name}/hardware").json()
        assert hardware["disks"][0]["path"] == str(kvm_guest.disk_path)
        assert hardware["networks"][0]["type"] == "ethernet"
        info = client.get("/hosts/kvm/info").json()
        assert info["cpu"] >= 1

        action = f"/hosts/kvm/vms/{kvm_guest.name}/action"
        assert client.post(action, json={"action": "reset"}).status_code == 204
        assert client.post(action, json={"action": "destroy"}).status_code == 204
        assert kvm_guest.state() == "shut off"
        conflict = client.post(action, json={"action": "destroy"})
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "conflict"
        poll(lambda: (managed() or {}).get("state") == 5)
        assert client.post(action, json={"action": "start"}).status_code == 204
        assert kvm_guest.state() == "running"
        poll(lambda: (managed() or {}).get("state") == 1)

        # A change behind the service's back reaches the (cached) list too.
        virsh(kvm_guest.uri, "destroy", kvm_guest.name)
        poll(lambda: (managed() or {}).get("state") == 5)
        virsh(kvm_guest.uri, "start", kvm_guest.name)
        poll(lambda: (managed() or {}).get("state") == 1)
        assert client.delete("/hosts/kvm").status_code == 204
    # Removing the host from Virtumancer leaves the guest alone.
    assert kvm_guest.state() == "running"


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_restart_keeps_hosts_vms_and_settings(
    server_factory: ServerFactory, test_uri: str, database: str, request: pytest.FixtureRequest
) -> None:
    options = {}
    if database == "postgres":
        options["database_url"] = request.getfixturevalue("fresh_postgres_url")
    server = server_factory(**options)
    with server.client() as client:
        assert client.post("/hosts", json={"id": "lab", "uri": test_uri}).status_code == 200
        assert client.post("/hosts/lab/vms/import-all").status_code == 202
        poll(lambda: len(client.get("/hosts/lab/vms").json()) == 10)
        assert client.post("/hosts/lab/disconnect").json()["state"] == "DISCONNECTED"
        settings = client.put("/settings/metrics", json={"cpu_smoothing_window": 42}).json()
        before = {h["id"]: h for h in client.get("/hosts").json()}
        demo_vms = client.get("/hosts/demo/vms").json()
    assert server.stop() in GRACEFUL_EXIT

    server.start()
    with server.client() as client:
        hosts = {h["id"]: h for h in client.get("/hosts").json()}
        assert set(hosts) == {"demo", "lab"}  # --demo added the demo host only once
        assert hosts["demo"]["created_at"] == before["demo"]["created_at"]
        poll(lambda: client.get("/hosts").json()[0]["state"] == "CONNECTED")
        lab = next(h for h in client.get("/hosts").json() if h["id"] == "lab")
        assert lab["state"] == "DISCONNECTED"
        assert lab["auto_reconnect_disabled"] is True
        assert len(client.get("/hosts/lab/vms").json()) == 10
        after_vms = client.get("/hosts/demo/vms").json()
        assert {(v["db_id"], v["name"]) for v in after_vms} == {
            (v["db_id"], v["name"]) for v in demo_vms
        }
        assert client.get("/settings/metrics").json() == settings
        assert client.post("/hosts/lab/connect").json()["state"] == "CONNECTED"


def test_stop_is_graceful(server: ServerProcess) -> None:
    with server.client() as client:
        assert client.get("/hosts").status_code == 200
    assert server.stop() in GRACEFUL_EXIT
    log = server.stderr_path.read_text()
    assert "Waiting for application shutdown" in log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def test_a_request_in_flight_finishes_on_stop(server: ServerProcess) -> None:
    started = threading.Event()
    outcome: dict[str, httpx.Response] = {}

    def slow_body() -> Iterator[bytes]:
        yield b'{"cpu_smoothing_window":'
        started.set()
        time.sleep(1.0)  # the server is told to stop while the body is still arriving
        yield b" 7}"

    def send() -> None:
        with server.client() as client:
            outcome["response"] = client.put(
                "/settings/metrics",
                content=slow_body(),
                headers={"Content-Type": "application/json"},
            )

    sender = threading.Thread(target=send)
    sender.start()
    assert started.wait(timeout=30)
    time.sleep(0.3)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    sender.join(timeout=60)
    response = outcome["response"]
    assert response.status_code == 200, response.text
    assert response.json()["cpu_smoothing_window"] == 7
    assert server.process.wait(timeout=30) in GRACEFUL_EXIT
    server.process = None
