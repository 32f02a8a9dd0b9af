"""Every REST route through falcon.testing, against the demo host (libvirt's test driver)."""

from __future__ import annotations

import uuid
from typing import Any

import falcon.testing
import pytest

from tests.server.conftest import AUTH, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor
DEMO_VMS = {"web-01", "web-02", "db-01", "build-runner", "win-desktop", "old-backup"}
RUNNING = {"web-01", "web-02", "db-01"}


async def get_json(client: Conductor, path: str, status: int = 200) -> Any:
    result = await client.simulate_get(f"/api/v1{path}", headers=AUTH)
    assert result.status_code == status, result.text
    assert result.headers["content-type"].startswith("application/json")
    return result.json


def assert_error(result: falcon.testing.Result, status: int, field: str | None = None) -> None:
    assert result.status_code == status, result.text
    error = result.json["error"]
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["field"] == field
    assert "Traceback" not in result.text


# --- health, auth ----------------------------------------------------------------------


async def test_health_needs_no_token(client: Conductor) -> None:
    result = await client.simulate_get("/api/v1/health")
    assert result.status_code == 200
    assert result.json == {"ok": True}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-000000"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "Bearer"},
    ],
)
async def test_api_refuses_missing_or_wrong_token(
    client: Conductor, headers: dict[str, str]
) -> None:
    result = await client.simulate_get("/api/v1/hosts", headers=headers)
    assert_error(result, 401)
    assert result.headers["www-authenticate"] == "Bearer"
    assert "test-token" not in result.text


async def test_token_is_checked_on_every_method(client: Conductor) -> None:
    for method, path in [
        ("POST", "/api/v1/hosts"),
        ("DELETE", "/api/v1/hosts/demo"),
        ("PUT", "/api/v1/settings/metrics"),
        ("POST", "/api/v1/hosts/demo/vms/web-01/action"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/no-such-route"),
    ]:
        result = await client.simulate_request(method, path, json={"action": "destroy"})
        assert_error(result, 401)
    # Nothing happened behind the refusals.
    hosts = await get_json(client, "/hosts")
    assert [h["id"] for h in hosts] == ["demo"]


async def test_session_cookie_is_set_for_websockets(client: Conductor) -> None:
    result = await client.simulate_post("/api/v1/session", headers=AUTH)
    assert result.status_code == 204
    cookie = result.cookies["virtumancer_session"]
    assert cookie.http_only
    assert TOKEN_NOT_IN(cookie.value)


def TOKEN_NOT_IN(value: str) -> bool:  # noqa: N802 - reads as an assertion
    return AUTH["Authorization"].split()[1] not in value


# --- hosts -----------------------------------------------------------------------------


async def test_list_hosts_shows_the_demo_host(client: Conductor) -> None:
    hosts = await get_json(client, "/hosts")
    assert len(hosts) == 1
    demo = hosts[0]
    assert demo["id"] == "demo"
    assert demo["uri"].startswith("test:///")
    assert demo["state"] == "CONNECTED"
    assert demo["auto_reconnect_disabled"] is False
    assert demo["created_at"].endswith("Z")


async def test_add_connect_disconnect_remove_a_host(client: Conductor, test_uri: str) -> None:
    added = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "lab", "uri": test_uri}
    )
    assert added.status_code == 200, added.text
    assert added.json["id"] == "lab"
    assert added.json["uri"] == test_uri
    assert added.json["state"] == "CONNECTED"
    assert {h["id"] for h in await get_json(client, "/hosts")} == {"demo", "lab"}

    again = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "lab", "uri": test_uri}
    )
    assert_error(again, 409, "id")

    down = await client.simulate_post("/api/v1/hosts/lab/disconnect", headers=AUTH)
    assert down.status_code == 200, down.text
    assert down.json["state"] == "DISCONNECTED"
    assert down.json["auto_reconnect_disabled"] is True
    assert_error(await client.simulate_get("/api/v1/hosts/lab/info", headers=AUTH), 503)

    up = await client.simulate_post("/api/v1/hosts/lab/connect", headers=AUTH)
    assert up.status_code == 200, up.text
    assert up.json["state"] == "CONNECTED"
    assert up.json["auto_reconnect_disabled"] is False

    removed = await client.simulate_delete("/api/v1/hosts/lab", headers=AUTH)
    assert removed.status_code == 204
    assert removed.text == ""
    assert [h["id"] for h in await get_json(client, "/hosts")] == ["demo"]
    assert_error(await client.simulate_get("/api/v1/hosts/lab/vms", headers=AUTH), 404)
    assert_error(await client.simulate_delete("/api/v1/hosts/lab", headers=AUTH), 404)


async def test_add_host_that_cannot_connect_is_500(client: Conductor, tmp_path: Any) -> None:
    missing = tmp_path / "no-such-node.xml"
    result = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "ghost", "uri": f"test://{missing}"}
    )
    assert_error(result, 500)
    assert result.json["error"]["code"] == "host_unavailable"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uri": "test:///default"}, "id"),
        ({"id": "", "uri": "test:///default"}, "id"),
        ({"id": "x", "uri": 5}, "uri"),
        ({"id": "x"}, "uri"),
        ([1, 2], "body"),
    ],
)
async def test_add_host_rejects_a_bad_body_naming_the_field(
    client: Conductor, body: Any, field: str
) -> None:
    result = await client.simulate_post("/api/v1/hosts", headers=AUTH, json=body)
    assert_error(result, 400, field)


async def test_add_host_refuses_a_hostile_uri(client: Conductor) -> None:
    result = await client.simulate_post(
        "/api/v1/hosts",
        headers=AUTH,
        json={"id": "evil", "uri": "qemu+ext:///system?command=/bin/sh"},
    )
    assert_error(result, 400, "uri")
    assert result.json["error"]["code"] == "uri_refused"


async def test_malformed_json_body_is_400(client: Conductor) -> None:
    result = await client.simulate_post(
        "/api/v1/hosts", headers={**AUTH, "Content-Type": "application/json"}, body=b"{nope"
    )
    assert_error(result, 400, "body")


async def test_non_json_body_is_415(client: Conductor) -> None:
    result = await client.simulate_post(
        "/api/v1/hosts", headers={**AUTH, "Content-Type": "text/plain"}, body=b"id=x"
    )
    assert_error(result, 415, "body")


async def test_oversized_body_is_413(client: Conductor) -> None:
    result = await client.simulate_put(
        "/api/v1/settings/metrics",
        headers={**AUTH, "Content-Type": "application/json"},
        body=b" " * (2 * 1024 * 1024),
    )
    assert_error(result, 413, "body")


async def test_host_info(client: Conductor) -> None:
    info = await get_json(client, "/hosts/demo/info")
    for key in ("hostname", "cpu", "memory", "cores", "threads"):
        assert key in info
    assert info["cpu"] > 0
    assert info["memory"] > 0
    await get_json(client, "/hosts/nope/info", status=404)


# --- VMs -------------------------------------------------------------------------------


async def test_list_vms_of_the_demo_host(client: Conductor) -> None:
    vms = await get_json(client, "/hosts/demo/vms")
    assert {vm["name"] for vm in vms} == DEMO_VMS
    for vm in vms:
        assert vm["state"] == (1 if vm["name"] in RUNNING else 5)
        assert vm["graphics"] == {"vnc": True, "spice": False}
        assert vm["memory_bytes"] >= 128 * 1024 * 1024
        assert vm["vcpu_count"] >= 1
        assert isinstance(vm["db_id"], int)
        assert vm["created_at"].endswith("Z")
        assert vm["updated_at"].endswith("Z")
    await get_json(client, "/hosts/nope/vms", status=404)


async def test_vm_hardware(client: Conductor) -> None:
    hardware = await get_json(client, "/hosts/demo/vms/web-01/hardware")
    disk = hardware["disks"][0]
    assert disk["target"] == {"dev": "vda", "bus": "virtio"}
    assert disk["driver"]["driver_name"] == "qemu"
    assert disk["driver"]["type"] == "qcow2"
    assert disk["path"].endswith("web-01.qcow2")
    nic = hardware["networks"][0]
    assert nic["mac"]["address"].startswith("52:54:00:")
    assert nic["model"]["model_type"] == "virtio"
    await get_json(client, "/hosts/demo/vms/no-such-vm/hardware", status=404)
    await get_json(client, "/hosts/nope/vms/web-01/hardware", status=404)


async def vm_state(client: Conductor, name: str) -> int:
    vms = await get_json(client, "/hosts/demo/vms")
    state: int = next(vm["state"] for vm in vms if vm["name"] == name)
    return state


async def test_power_actions(client: Conductor) -> None:
    path = "/api/v1/hosts/demo/vms/web-02/action"
    result = await client.simulate_post(path, headers=AUTH, json={"action": "destroy"})
    assert result.status_code == 204, result.text
    assert result.text == ""
    await wait_for(lambda: _state_is(client, "web-02", 5))

    again = await client.simulate_post(path, headers=AUTH, json={"action": "destroy"})
    assert_error(again, 409)

    start = await client.simulate_post(path, headers=AUTH, json={"action": "start"})
    assert start.status_code == 204, start.text
    await wait_for(lambda: _state_is(client, "web-02", 1))

    twice = await client.simulate_post(path, headers=AUTH, json={"action": "start"})
    assert_error(twice, 409)
    for action in ("reboot", "reset"):
        done = await client.simulate_post(path, headers=AUTH, json={"action": action})
        assert done.status_code == 204, (action, done.text)


async def _state_is(client: Conductor, name: str, state: int) -> bool:
    return await vm_state(client, name) == state


@pytest.mark.parametrize("body", [{"action": "fly"}, {"action": 3}, {}, {"verb": "start"}])
async def test_bad_action_is_400_naming_action(client: Conductor, body: Any) -> None:
    result = await client.simulate_post(
        "/api/v1/hosts/demo/vms/web-01/action", headers=AUTH, json=body
    )
    assert_error(result, 400, "action")


async def test_action_on_unknown_vm_or_host_is_404(client: Conductor) -> None:
    for path in ("/hosts/demo/vms/nope/action", "/hosts/nope/vms/web-01/action"):
        result = await client.simulate_post(
            f"/api/v1{path}", headers=AUTH, json={"action": "start"}
        )
        assert_error(result, 404)


# --- discovered VMs --------------------------------------------------------------------


async def test_discover_import_and_dismiss(client: Conductor, test_uri: str) -> None:
    added = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "lab", "uri": test_uri}
    )
    assert added.status_code == 200, added.text
    discovered = await wait_for(lambda: get_json(client, "/hosts/lab/discovered-vms"))
    assert len(discovered) == 10
    for vm in discovered:
        assert vm["host_id"] == "lab"
        assert vm["imported"] is False
        assert vm["last_seen_at"].endswith("Z")
    by_name = {vm["name"]: vm["domain_uuid"] for vm in discovered}
    names = sorted(by_name)

    one = await client.simulate_post(f"/api/v1/hosts/lab/vms/{names[0]}/import", headers=AUTH)
    assert one.status_code == 202, one.text
    selected = await client.simulate_post(
        "/api/v1/hosts/lab/vms/import-selected",
        headers=AUTH,
        json={"domain_uuids": [by_name[names[1]], by_name[names[2]]]},
    )
    assert selected.status_code == 202, selected.text
    dismissed = await client.simulate_delete(
        "/api/v1/hosts/lab/discovered-vms", headers=AUTH, json={"domain_uuids": [by_name[names[3]]]}
    )
    assert dismissed.status_code == 202, dismissed.text

    async def managed() -> set[str]:
        return {vm["name"] for vm in await get_json(client, "/hosts/lab/vms")}

    await wait_for(lambda: _contains(managed(), set(names[:3])))
    remaining = {vm["name"] for vm in await get_json(client, "/hosts/lab/discovered-vms")}
    assert names[3] not in remaining
    assert not remaining & set(names[:3])

    everything = await client.simulate_post("/api/v1/hosts/lab/vms/import-all", headers=AUTH)
    assert everything.status_code == 202, everything.text
    await wait_for(lambda: _contains(managed(), set(names) - {names[3]}))


async def _contains(awaitable: Any, expected: set[str]) -> bool:
    found: set[str] = await awaitable
    return expected <= found


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "domain_uuids"),
        ({"domain_uuids": "abc"}, "domain_uuids"),
        ({"domain_uuids": [1]}, "domain_uuids[0]"),
        ({"domain_uuids": [str(uuid.UUID(int=1)), str(uuid.UUID(int=2)), "x"]}, "domain_uuids[2]"),
    ],
)
async def test_import_selected_and_dismiss_reject_bad_bodies(
    client: Conductor, body: Any, field: str
) -> None:
    # ``field`` is the JSON path of the bad value.
    result = await client.simulate_post(
        "/api/v1/hosts/demo/vms/import-selected", headers=AUTH, json=body
    )
    assert_error(result, 400, field)
    result = await client.simulate_delete(
        "/api/v1/hosts/demo/discovered-vms", headers=AUTH, json=body
    )
    assert_error(result, 400, field)


async def test_discovered_routes_on_unknown_host_are_404(client: Conductor) -> None:
    await get_json(client, "/hosts/nope/discovered-vms", status=404)
    result = await client.simulate_post("/api/v1/hosts/nope/vms/import-all", headers=AUTH)
    assert_error(result, 404)
    result = await client.simulate_post("/api/v1/hosts/demo/vms/no-such-vm/import", headers=AUTH)
    assert_error(result, 404)


# --- storage, network, video -----------------------------------------------------------


async def test_storage(client: Conductor) -> None:
    pools = await get_json(client, "/storage/pools")
    demo_pools = [p for p in pools if p["host_id"] == "demo"]
    assert {p["name"] for p in demo_pools} == {"demo-pool0", "demo-pool1"}
    for pool in demo_pools:
        assert pool["type"] == "dir"
        assert pool["capacity_bytes"] == 107374182400
        assert 0 < pool["allocation_bytes"] <= pool["capacity_bytes"]
    assert await get_json(client, "/hosts/demo/storage/pools") == demo_pools

    volumes = await get_json(client, "/hosts/demo/storage/volumes")
    assert len(volumes) == 6
    pool_ids = {p["id"] for p in demo_pools}
    for volume in volumes:
        assert volume["storage_pool_id"] in pool_ids
        assert volume["format"] == "qcow2"
        assert volume["capacity_bytes"] >= 1073741824
    all_volumes = await get_json(client, "/storage/volumes")
    assert {v["id"] for v in volumes} <= {v["id"] for v in all_volumes}

    attachments = await get_json(client, "/storage/disk-attachments")
    assert len(attachments) >= len(DEMO_VMS)
    assert {a["device_name"] for a in attachments} == {"vda"}
    await get_json(client, "/hosts/nope/storage/pools", status=404)
    await get_json(client, "/hosts/nope/storage/volumes", status=404)


async def test_network(client: Conductor) -> None:
    networks = await get_json(client, "/hosts/demo/networks")
    assert {n["name"] for n in networks} == {"demo-net0", "demo-net1"}
    modes = {n["name"]: n["mode"] for n in networks}
    assert modes["demo-net0"] == "nat"
    assert {n["bridge_name"] for n in networks} == {"demobr0", "demobr1"}
    assert networks == [n for n in await get_json(client, "/networks") if n["host_id"] == "demo"]

    ports = await get_json(client, "/ports")
    demo_ports = [p for p in ports if p["host_id"] == "demo"]
    assert len(demo_ports) == len(DEMO_VMS)
    assert all(p["mac_address"].startswith("52:54:00:") for p in demo_ports)
    host_ports = await get_json(client, "/hosts/demo/ports")
    assert {p["mac_address"] for p in host_ports} == {p["mac_address"] for p in demo_ports}

    attachments = await get_json(client, "/port-attachments")
    assert len(attachments) >= len(DEMO_VMS)
    vm_attachments = await get_json(client, "/hosts/demo/vms/web-01/port-attachments")
    assert len(vm_attachments) == 1
    assert vm_attachments[0] in attachments
    await get_json(client, "/hosts/nope/networks", status=404)
    await get_json(client, "/hosts/nope/ports", status=404)
    await get_json(client, "/hosts/demo/vms/nope/port-attachments", status=404)


async def test_video(client: Conductor) -> None:
    models = await get_json(client, "/video/models")
    assert any(m["model_name"] == "qxl" for m in models)
    assert isinstance(await get_json(client, "/hosts/demo/video/devices"), list)
    attachments = await get_json(client, "/hosts/demo/vms/web-01/video-attachments")
    assert len(attachments) == 1
    assert attachments[0]["primary"] is True
    assert attachments[0]["monitor_index"] == 0
    assert attachments[0]["video_model_id"] in {m["id"] for m in models}
    await get_json(client, "/hosts/nope/video/devices", status=404)
    await get_json(client, "/hosts/demo/vms/nope/video-attachments", status=404)


# --- dashboard, settings ---------------------------------------------------------------


async def test_topology_agrees_with_the_dashboard_and_the_vm_list(client: Conductor) -> None:
    topology = await get_json(client, "/topology")
    stats = await get_json(client, "/dashboard/stats")
    vms = await get_json(client, "/hosts/demo/vms")
    assert {vm["name"]: vm["status"] for vm in vms} == {
        name: "active" if name in RUNNING else "stopped" for name in DEMO_VMS
    }
    assert {n["id"]: n["status"] for n in topology["vms"]} == {
        f"demo/{vm['name']}": vm["status"] for vm in vms
    }
    assert [(h["id"], h["status"]) for h in topology["hosts"]] == [("demo", "active")]
    summary = topology["summary"]
    assert summary["vms"]["active"] == stats["active_vms"] == len(RUNNING)
    assert summary["vms"]["total"] == stats["total_vms"]
    assert summary["hosts"]["active"] == stats["connected_hosts"] == 1
    assert len(topology["links"]) == len(DEMO_VMS)


async def test_dashboard(client: Conductor) -> None:
    stats = await get_json(client, "/dashboard/stats")
    assert stats["total_hosts"] == 1
    assert stats["connected_hosts"] == 1
    assert stats["total_vms"] == len(DEMO_VMS)
    assert stats["active_vms"] == len(RUNNING)
    assert stats["total_storage_gb"] == 215
    activity = await get_json(client, "/dashboard/activity?limit=2")
    assert 1 <= len(activity) <= 2
    assert {"id", "timestamp", "type", "message", "host_id", "vm_name"} <= set(activity[0])
    overview = await get_json(client, "/dashboard/overview")
    assert overview["stats"] == stats
    assert isinstance(overview["recent_activity"], list)
    for bad in ("0", "-1", "abc", "1001", "2.5"):
        result = await client.simulate_get(
            "/api/v1/dashboard/activity", params={"limit": bad}, headers=AUTH
        )
        assert_error(result, 400, "limit")


async def test_settings(client: Conductor) -> None:
    defaults = await get_json(client, "/settings/metrics")
    assert defaults["cpu_smoothing_window"] == 10
    assert defaults["memory_display_unit"] == "GB"
    assert defaults["default_cpu_view"] == "percentage"

    result = await client.simulate_put(
        "/api/v1/settings/metrics",
        headers=AUTH,
        json={"cpu_smoothing_window": 15, "memory_display_unit": "MB"},
    )
    assert result.status_code == 200, result.text
    assert result.json == {**defaults, "cpu_smoothing_window": 15, "memory_display_unit": "MB"}
    assert await get_json(client, "/settings/metrics") == result.json
    runtime = await get_json(client, "/settings/metrics/runtime")
    assert runtime["cpu_smoothing_window"] == 15

    for body, field in [
        ({"cpu_smoothing_window": 0}, "cpu_smoothing_window"),
        ({"memory_display_unit": "parsecs"}, "memory_display_unit"),
        ({"colour": "blue"}, "colour"),
        ([], "body"),
    ]:
        bad = await client.simulate_put("/api/v1/settings/metrics", headers=AUTH, json=body)
        assert_error(bad, 400, field)
    assert await get_json(client, "/settings/metrics") == result.json


# --- misc ------------------------------------------------------------------------------


async def test_unknown_route_and_method(client: Conductor) -> None:
    assert_error(await client.simulate_get("/api/v1/nothing-here", headers=AUTH), 404)
    assert_error(await client.simulate_patch("/api/v1/hosts", headers=AUTH), 405)


async def test_openapi_lists_every_route(client: Conductor, app: Any) -> None:
    document = await get_json(client, "/openapi.json")
    assert document["openapi"].startswith("3.1")
    templates = set(document["paths"])
    for route in _api_routes(app):
        assert route.removeprefix("/api/v1") in templates


def _api_routes(app: Any) -> set[str]:
    found: set[str] = set()

    def walk(nodes: Any) -> None:
        for node in nodes:
            template = node.uri_template or ""
            # WebSocket-only console routes are not REST; they are documented separately.
            websocket_only = template.endswith(("/console", "/spice")) or "console" in template
            if node.resource is not None and template.startswith("/api/v1") and not websocket_only:
                found.add(node.uri_template)
            walk(node.children)

    walk(app._router._roots)
    return found


async def test_dashboard_page_and_static_files_need_no_token(client: Conductor) -> None:
    page = await client.simulate_get("/")
    assert page.status_code in {200, 404}  # 404 only until the page is installed
    if page.status_code == 200:
        assert page.headers["content-type"].startswith("text/html")
    missing = await client.simulate_get("/static/no-such-file.js")
    assert missing.status_code == 404


async def test_vm_list_is_cached_and_stays_fresh(client: Conductor, app: Any) -> None:
    first = await client.simulate_get("/api/v1/hosts/demo/vms", headers=AUTH)
    second = await client.simulate_get("/api/v1/hosts/demo/vms", headers=AUTH)
    assert first.content == second.content
    cache = _vms_resource(app).context.cache
    assert cache.hits >= 1
    result = await client.simulate_post(
        "/api/v1/hosts/demo/vms/db-01/action", headers=AUTH, json={"action": "destroy"}
    )
    assert result.status_code == 204
    await wait_for(lambda: _state_is(client, "db-01", 5))


def _vms_resource(app: Any) -> Any:
    resource, *_ = app._router.find("/api/v1/hosts/demo/vms")
    return resource
