"""The database's pools and volumes follow every change that makes or removes a volume.

Without a refresh the rows kept what the last full pass saw: a created VM's volume was
missing, a deleted one lingered, and the pool's sizes were stale until the next pass. After
each change the API's rows must equal what libvirt says at that moment.
"""

from __future__ import annotations

from typing import Any

import falcon.testing
import pytest

from virtumancer import Virtumancer

from .conftest import AUTH
from .test_vm_lifecycle_api import POOL, _add_lab, _spec

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor
MIB = 1024 * 1024
HOST = "/api/v1/hosts/lab"

Sizes = dict[str, tuple[int, int]]


async def _rows(client: Conductor) -> tuple[Sizes, tuple[int, int]]:
    """Return the API's volumes of ``POOL`` (name: capacity, allocation) and the pool's sizes."""
    volumes = await client.simulate_get(f"{HOST}/storage/volumes", headers=AUTH)
    pools = await client.simulate_get(f"{HOST}/storage/pools", headers=AUTH)
    assert volumes.status_code == pools.status_code == 200
    (pool,) = [p for p in pools.json if p["name"] == POOL]
    return (
        {
            v["name"]: (v["capacity_bytes"], v["allocation_bytes"])
            for v in volumes.json
            if v["storage_pool_id"] == pool["id"]
        },
        (pool["allocation_bytes"], pool["available_bytes"]),
    )


async def _live(manager: Virtumancer) -> tuple[Sizes, tuple[int, int]]:
    """Return the same as :func:`_rows`, read from libvirt now."""
    host = manager.pool.get("lab")
    (pool,) = [p for p in await host.list_storage_pools() if p.name == POOL]
    volumes = await host.list_storage_volumes(POOL)
    return (
        {v.name: (v.capacity_bytes or 0, v.allocation_bytes or 0) for v in volumes},
        (pool.allocation_bytes or 0, pool.available_bytes or 0),
    )


async def _assert_fresh(client: Conductor, manager: Virtumancer) -> Sizes:
    rows = await _rows(client)
    assert rows == await _live(manager)
    return rows[0]


async def test_vm_and_volume_changes_refresh_the_hosts_pools_and_volumes(
    client: Conductor, manager: Virtumancer, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    before = await _assert_fresh(client, manager)

    created = await client.simulate_post(f"{HOST}/vms", headers=AUTH, json=_spec("fresh"))
    assert created.status_code == 201, created.text
    volumes = await _assert_fresh(client, manager)
    (new,) = set(volumes) - set(before)
    assert volumes[new][0] == 256 * MIB

    attached = await client.simulate_post(
        f"{HOST}/vms/fresh/disks",
        headers=AUTH,
        json={"disk": {"kind": "new_volume", "pool": POOL, "size_bytes": 64 * MIB}},
    )
    assert attached.status_code == 200, attached.text
    volumes = await _assert_fresh(client, manager)
    (second,) = set(volumes) - set(before) - {new}
    assert volumes[second][0] == 64 * MIB

    deleted = await client.simulate_delete(
        f"{HOST}/vms/fresh", headers=AUTH, params={"delete_storage": "true"}
    )
    assert deleted.status_code == 204, deleted.text
    assert set(await _assert_fresh(client, manager)) == set(before)

    made = await client.simulate_post(
        f"{HOST}/storage/pools/{POOL}/volumes",
        headers=AUTH,
        json={"name": "loose.qcow2", "size_bytes": 48 * MIB},
    )
    assert made.status_code == 201, made.text
    assert (await _assert_fresh(client, manager))["loose.qcow2"][0] == 48 * MIB
    gone = await client.simulate_delete(
        f"{HOST}/storage/pools/{POOL}/volumes/loose.qcow2", headers=AUTH
    )
    assert gone.status_code == 204, gone.text
    assert set(await _assert_fresh(client, manager)) == set(before)


async def test_a_clone_refreshes_the_hosts_volumes(
    client: Conductor, manager: Virtumancer, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    created = await client.simulate_post(f"{HOST}/vms", headers=AUTH, json=_spec("origin"))
    assert created.status_code == 201, created.text
    before = await _assert_fresh(client, manager)
    task = await client.simulate_post(
        f"{HOST}/vms/origin/clone", headers=AUTH, json={"name": "origin-copy"}
    )
    assert task.status_code == 202, task.text
    done = await _task_result(client, task.json["id"])
    assert done["state"] == "succeeded", done
    after = await _assert_fresh(client, manager)
    assert len(set(after) - set(before)) == 1


async def _task_result(client: Conductor, task_id: str) -> dict[str, Any]:
    import anyio

    with anyio.fail_after(60):
        while True:
            task = (await client.simulate_get(f"/api/v1/tasks/{task_id}", headers=AUTH)).json
            if task["state"] not in {"queued", "running"}:
                return dict(task)
            await anyio.sleep(0.05)
