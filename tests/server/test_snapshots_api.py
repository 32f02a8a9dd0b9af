"""Snapshots through the API (test driver): take, list as a tree, revert, delete."""

from __future__ import annotations

import falcon.testing
import pytest

from .conftest import AUTH
from .test_vm_lifecycle_api import _activity, _add_lab, _spec

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor
VM = "/api/v1/hosts/lab/vms/api-snap"


async def test_snapshot_change_revert_and_delete_through_the_api(
    client: Conductor, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    created = await client.simulate_post(
        "/api/v1/hosts/lab/vms", headers=AUTH, json=_spec("api-snap", description="original")
    )
    assert created.status_code == 201, created.text

    taken = await client.simulate_post(f"{VM}/snapshots", headers=AUTH, json={"name": "s1"})
    assert taken.status_code == 201, taken.text
    assert taken.json["name"] == "s1"
    assert taken.json["memory"] is False  # a stopped VM
    again = await client.simulate_post(f"{VM}/snapshots", headers=AUTH, json={"name": "s1"})
    assert again.status_code == 409
    assert again.json["error"]["field"] == "name"
    bad = await client.simulate_post(f"{VM}/snapshots", headers=AUTH, json={"memory": "yes"})
    assert bad.status_code == 400
    assert bad.json["error"]["field"] == "memory"

    changed = await client.simulate_patch(f"{VM}", headers=AUTH, json={"description": "new"})
    assert changed.status_code == 200, changed.text
    await client.simulate_post(f"{VM}/snapshots", headers=AUTH, json={"name": "s2"})
    tree = await client.simulate_get(f"{VM}/snapshots", headers=AUTH)
    assert [(s["name"], s["parent"], s["depth"]) for s in tree.json] == [
        ("s1", None, 0),
        ("s2", "s1", 1),
    ]

    reverted = await client.simulate_post(f"{VM}/snapshots/s1/revert", headers=AUTH)
    assert reverted.status_code == 200, reverted.text
    assert reverted.json["description"] == "original"
    missing = await client.simulate_post(f"{VM}/snapshots/nope/revert", headers=AUTH)
    assert missing.status_code == 404

    deleted = await client.simulate_delete(
        f"{VM}/snapshots/s1", headers=AUTH, params={"children": "true"}
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json == ["s1", "s2"]
    activity = await _activity(client)
    for kind in ("vm_snapshot_created", "vm_snapshot_reverted", "vm_snapshot_deleted"):
        assert kind in activity
