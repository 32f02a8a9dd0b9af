"""The VM lifecycle routes: create from a spec, define from XML, change, delete (test driver)."""

from __future__ import annotations

from typing import Any

import falcon.testing
import pytest

from .conftest import AUTH

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor
MIB = 1024 * 1024
POOL = "guest-pool0"


def _spec(name: str = "api-made", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "memory_bytes": 128 * MIB,
        "disks": [{"kind": "new_volume", "pool": POOL, "size_bytes": 256 * MIB}],
        **extra,
    }


async def _add_lab(client: Conductor, test_uri: str) -> None:
    added = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "lab", "uri": test_uri}
    )
    assert added.status_code == 200, added.text


async def _activity(client: Conductor) -> list[str]:
    result = await client.simulate_get("/api/v1/dashboard/activity?limit=50", headers=AUTH)
    return [entry["type"] for entry in result.json]


async def test_create_change_and_delete_a_vm_through_the_api(
    client: Conductor, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    created = await client.simulate_post(
        "/api/v1/hosts/lab/vms", headers=AUTH, params={"start": "true"}, json=_spec()
    )
    assert created.status_code == 201, created.text
    assert created.json["name"] == "api-made"
    assert created.json["state"] == 1
    # Managed at once: in the VM list without an import, with an activity entry.
    listed = await client.simulate_get("/api/v1/hosts/lab/vms", headers=AUTH)
    assert "api-made" in [vm["name"] for vm in listed.json]
    assert "vm_created" in await _activity(client)

    changed = await client.simulate_patch(
        "/api/v1/hosts/lab/vms/api-made",
        headers=AUTH,
        json={"vcpus": 2, "memory_bytes": 256 * MIB, "description": "resized"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json["description"] == "resized"

    running = await client.simulate_delete("/api/v1/hosts/lab/vms/api-made", headers=AUTH)
    assert running.status_code == 409
    assert running.json["error"]["field"] == "force"
    deleted = await client.simulate_delete(
        "/api/v1/hosts/lab/vms/api-made?force=true&delete_storage=true", headers=AUTH
    )
    assert deleted.status_code == 204, deleted.text
    listed = await client.simulate_get("/api/v1/hosts/lab/vms", headers=AUTH)
    assert "api-made" not in [vm["name"] for vm in listed.json]
    assert "vm_deleted" in await _activity(client)
    volumes = await client.simulate_get("/api/v1/hosts/lab/storage/volumes", headers=AUTH)
    assert volumes.status_code == 200


async def test_bad_specs_get_a_400_or_409_naming_the_field(
    client: Conductor, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    cases = [
        ({"spec": _spec(memory_bytes=0)}, 400, "memory_bytes"),
        (
            {"spec": _spec(nics=[{"network": "guest-net0", "mac": "01:00:00:00:00:01"}])},
            400,
            "nics[0].mac",
        ),
        (
            {"spec": _spec(disks=[{"kind": "new_volume", "pool": "nope", "size_bytes": MIB}])},
            400,
            "disks[0].pool",
        ),
        (
            {"spec": _spec(disks=[{"kind": "new_volume", "pool": POOL, "size_bytes": 2**60}])},
            409,
            "disks[0].size_bytes",
        ),
        ({"spec": _spec(name="guest-0000")}, 409, "name"),
        ({"spec": _spec(extra=1)}, 400, "extra"),
    ]
    for body, status, field in cases:
        result = await client.simulate_post(
            "/api/v1/hosts/lab/vms", headers=AUTH, json=body["spec"]
        )
        assert result.status_code == status, (body, result.text)
        assert result.json["error"]["field"] == field, (body, result.text)
    bad_flag = await client.simulate_post(
        "/api/v1/hosts/lab/vms", headers=AUTH, params={"start": "yes"}, json=_spec()
    )
    assert (bad_flag.status_code, bad_flag.json["error"]["field"]) == (400, "start")
    listed = await client.simulate_get("/api/v1/hosts/lab/vms", headers=AUTH)
    assert listed.json == []


async def test_define_from_xml_and_bad_xml(client: Conductor, test_uri: str) -> None:
    await _add_lab(client, test_uri)
    xml = (
        "<domain type='test'><name>from-xml</name><memory unit='KiB'>65536</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    defined = await client.simulate_post(
        "/api/v1/hosts/lab/vms-from-xml", headers=AUTH, json={"xml": xml}
    )
    assert defined.status_code == 201, defined.text
    assert defined.json["name"] == "from-xml"
    again = await client.simulate_post(
        "/api/v1/hosts/lab/vms-from-xml", headers=AUTH, json={"xml": xml}
    )
    assert again.status_code == 409
    bad = await client.simulate_post(
        "/api/v1/hosts/lab/vms-from-xml", headers=AUTH, json={"xml": "<domain>"}
    )
    assert bad.status_code == 400


async def test_a_viewer_cannot_create_or_delete(client: Conductor, test_uri: str) -> None:
    await _add_lab(client, test_uri)
    viewer = await client.simulate_post(
        "/api/v1/tokens", headers=AUTH, json={"name": "looker", "role": "viewer"}
    )
    headers = {"Authorization": f"Bearer {viewer.json['secret']}"}
    created = await client.simulate_post("/api/v1/hosts/lab/vms", headers=headers, json=_spec())
    assert created.status_code == 403
    deleted = await client.simulate_delete("/api/v1/hosts/lab/vms/guest-0000", headers=headers)
    assert deleted.status_code == 403


async def test_the_delete_plan_names_what_a_delete_removes_and_changes_nothing(
    client: Conductor, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    vm = "/api/v1/hosts/lab/vms/api-plan"
    created = await client.simulate_post(
        "/api/v1/hosts/lab/vms", headers=AUTH, params={"start": "true"}, json=_spec("api-plan")
    )
    assert created.status_code == 201, created.text
    # An install ISO outside any pool: kept even with the storage.
    media = await client.simulate_post(
        f"{vm}/disks",
        headers=AUTH,
        json={
            "disk": {"kind": "existing_path", "path": "/srv/iso/install.iso", "device": "cdrom"},
            "scope": "config",
        },
    )
    assert media.status_code == 200, media.text
    taken = await client.simulate_post(f"{vm}/snapshots", headers=AUTH, json={"name": "s1"})
    assert taken.status_code == 201, taken.text
    hardware = (await client.simulate_get(f"{vm}/hardware", headers=AUTH)).json
    (volume,) = [d["path"] for d in hardware["disks"] if d["device"] == "disk"]

    plan = await client.simulate_get(f"{vm}/delete-plan", headers=AUTH)
    assert plan.status_code == 200, plan.text
    assert plan.json == {
        "vm_name": "api-plan",
        "running": True,
        "volumes": [volume],
        "kept": ["/srv/iso/install.iso"],
        "nvram": None,  # BIOS: no UEFI variables
        "snapshots": ["s1"],
    }
    # Nothing changed: the VM, its snapshot and its volume are all still there.
    again = await client.simulate_get(f"{vm}/delete-plan", headers=AUTH)
    assert again.json == plan.json

    deleted = await client.simulate_delete(
        vm, headers=AUTH, params={"force": "true", "delete_storage": "true"}
    )
    assert deleted.status_code == 204, deleted.text
    volumes = await client.simulate_get("/api/v1/hosts/lab/storage/volumes", headers=AUTH)
    assert volume not in [v["path"] for v in volumes.json]
    gone = await client.simulate_get(f"{vm}/delete-plan", headers=AUTH)
    assert gone.status_code == 404
    assert (
        await client.simulate_get("/api/v1/hosts/nohost/vms/x/delete-plan", headers=AUTH)
    ).status_code == 404
