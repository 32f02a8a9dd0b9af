"""Storage pools, volumes and NAT networks through the API (test driver); admin vs operator."""

from __future__ import annotations

import falcon.testing
import pytest

from virtumancer import Role, Virtumancer

from .conftest import AUTH
from .test_tokens import bearer, make_token
from .test_vm_lifecycle_api import _activity, _add_lab

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor
MIB = 1024 * 1024
POOLS = "/api/v1/hosts/lab/storage/pools"
NETWORKS = "/api/v1/hosts/lab/networks"


async def test_a_volume_and_a_network_through_the_api(client: Conductor, test_uri: str) -> None:
    await _add_lab(client, test_uri)
    made = await client.simulate_post(
        f"{POOLS}/guest-pool0/volumes",
        headers=AUTH,
        json={"name": "api.qcow2", "size_bytes": 32 * MIB},
    )
    assert made.status_code == 201, made.text
    assert made.json["capacity_bytes"] == 32 * MIB
    listed = await client.simulate_get("/api/v1/hosts/lab/storage/volumes", headers=AUTH)
    assert "api.qcow2" in [volume["name"] for volume in listed.json]
    shrink = await client.simulate_patch(
        f"{POOLS}/guest-pool0/volumes/api.qcow2", headers=AUTH, json={"size_bytes": 2 * MIB}
    )
    assert shrink.status_code == 409
    gone = await client.simulate_delete(f"{POOLS}/guest-pool0/volumes/api.qcow2", headers=AUTH)
    assert gone.status_code == 204, gone.text
    missing = await client.simulate_delete(f"{POOLS}/guest-pool0/volumes/api.qcow2", headers=AUTH)
    assert missing.status_code == 404

    network = {
        "name": "api-nat",
        "address": "10.88.0.1",
        "dhcp_start": "10.88.0.50",
        "dhcp_end": "10.88.0.99",
    }
    defined = await client.simulate_post(NETWORKS, headers=AUTH, json=network)
    assert defined.status_code == 201, defined.text
    assert defined.json["forward_mode"] == "nat"
    started = await client.simulate_post(f"{NETWORKS}/api-nat/start", headers=AUTH)
    assert started.status_code == 200, started.text
    assert started.json["active"] is True
    again = await client.simulate_post(f"{NETWORKS}/api-nat/start", headers=AUTH)
    assert again.status_code == 409
    stopped = await client.simulate_post(f"{NETWORKS}/api-nat/stop", headers=AUTH)
    assert stopped.json["active"] is False
    deleted = await client.simulate_delete(f"{NETWORKS}/api-nat", headers=AUTH)
    assert deleted.status_code == 204
    bad = await client.simulate_post(
        NETWORKS, headers=AUTH, json={**network, "dhcp_end": "10.99.0.1"}
    )
    assert bad.status_code == 400
    assert bad.json["error"]["field"] == "dhcp_end"
    activity = await _activity(client)
    assert "storage_changed" in activity
    assert "network_changed" in activity


async def test_pool_and_network_definitions_need_an_admin(
    client: Conductor, manager: Virtumancer, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    operator = bearer(await make_token(manager, Role.OPERATOR))
    refused = await client.simulate_post(
        POOLS, headers=operator, json={"name": "p", "path": "/tmp/p"}
    )
    assert refused.status_code == 403
    refused = await client.simulate_post(
        NETWORKS, headers=operator, json={"name": "n", "address": "10.1.0.1"}
    )
    assert refused.status_code == 403
    volume = await client.simulate_post(
        f"{POOLS}/guest-pool0/volumes", headers=operator, json={"name": "o.raw", "size_bytes": MIB}
    )
    assert volume.status_code == 201, volume.text
    # The test driver keeps pools in memory: the path is only recorded.
    made = await client.simulate_post(
        POOLS, headers=AUTH, json={"name": "api-pool", "path": "/nonexistent/api-pool"}
    )
    assert made.status_code == 201, made.text
    assert made.json["state"] == "running"
    listed = await client.simulate_get(POOLS, headers=AUTH)
    assert "api-pool" in [pool["name"] for pool in listed.json]
    taken = await client.simulate_post(
        POOLS, headers=AUTH, json={"name": "api-pool", "path": "/nonexistent/other"}
    )
    assert taken.status_code == 409
    relative = await client.simulate_post(
        POOLS, headers=AUTH, json={"name": "rel", "path": "relative/dir"}
    )
    assert relative.status_code == 400
    assert relative.json["error"]["field"] == "path"
    gone = await client.simulate_delete(f"{POOLS}/api-pool", headers=AUTH)
    assert gone.status_code == 200, gone.text
