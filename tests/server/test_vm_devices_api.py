"""Attach and detach disks and NICs through the API (test driver: the VM's definition)."""

from __future__ import annotations

import falcon.testing
import pytest

from .conftest import AUTH
from .test_vm_lifecycle_api import POOL, _activity, _add_lab, _spec

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor
MIB = 1024 * 1024
VM = "/api/v1/hosts/lab/vms/api-dev"


async def test_attach_and_detach_a_disk_and_a_nic_through_the_api(
    client: Conductor, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    created = await client.simulate_post(
        "/api/v1/hosts/lab/vms", headers=AUTH, json=_spec("api-dev")
    )
    assert created.status_code == 201, created.text

    attached = await client.simulate_post(
        f"{VM}/disks",
        headers=AUTH,
        json={"disk": {"kind": "new_volume", "pool": POOL, "size_bytes": 16 * MIB}},
    )
    assert attached.status_code == 200, attached.text
    hardware = await client.simulate_get(f"{VM}/hardware", headers=AUTH)
    assert "vdb" in [disk["target"]["dev"] for disk in hardware.json["disks"]]

    nic = await client.simulate_post(
        f"{VM}/interfaces",
        headers=AUTH,
        json={"nic": {"network": "guest-net0", "mac": "52:54:00:aa:bb:cc"}, "scope": "config"},
    )
    assert nic.status_code == 200, nic.text
    hardware = await client.simulate_get(f"{VM}/hardware", headers=AUTH)
    assert "52:54:00:aa:bb:cc" in [n["mac"]["address"] for n in hardware.json["networks"]]

    gone = await client.simulate_delete(f"{VM}/interfaces/52:54:00:aa:bb:cc", headers=AUTH)
    assert gone.status_code == 200, gone.text
    gone = await client.simulate_delete(f"{VM}/disks/vdb", headers=AUTH, params={"scope": "config"})
    assert gone.status_code == 200, gone.text
    hardware = await client.simulate_get(f"{VM}/hardware", headers=AUTH)
    assert "vdb" not in [disk["target"]["dev"] for disk in hardware.json["disks"]]
    assert "vm_changed" in await _activity(client)


async def test_bad_attachments_are_refused_naming_the_field(
    client: Conductor, test_uri: str
) -> None:
    await _add_lab(client, test_uri)
    created = await client.simulate_post(
        "/api/v1/hosts/lab/vms", headers=AUTH, json=_spec("api-dev")
    )
    assert created.status_code == 201, created.text
    cases: list[tuple[dict[str, object], str]] = [
        ({"disk": {"kind": "new_volume", "pool": POOL, "size_bytes": "big"}}, "disk.size_bytes"),
        ({"disk": {"kind": "floppy"}}, "disk.kind"),
        ({"nic": {"network": "guest-net0", "mac": "01:00:00:00:00:00"}}, "nic.mac"),
        ({"disk": {"kind": "existing_path", "path": "/x.img"}, "scope": "sideways"}, "scope"),
    ]
    for body, field in cases:
        where = "interfaces" if "nic" in body else "disks"
        refused = await client.simulate_post(f"{VM}/{where}", headers=AUTH, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json["error"]["field"] == field, refused.text
    live = await client.simulate_post(
        f"{VM}/interfaces", headers=AUTH, json={"nic": {"network": "guest-net0"}, "scope": "live"}
    )
    assert live.status_code == 409, live.text
    missing = await client.simulate_delete(f"{VM}/disks/vdq", headers=AUTH)
    assert missing.status_code == 404, missing.text
    bad_scope = await client.simulate_delete(f"{VM}/disks/vda", headers=AUTH, params={"scope": "x"})
    assert bad_scope.status_code == 400
