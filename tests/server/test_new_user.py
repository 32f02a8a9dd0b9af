"""What a new user ran into with curl, as regressions (falcon.testing, the demo host)."""

from __future__ import annotations

import falcon.testing
import pytest

from tests.server.conftest import AUTH
from virtumancer_server.cli import browser_url

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

Conductor = falcon.testing.ASGIConductor


def error_of(result: falcon.testing.Result, status: int) -> dict[str, str | None]:
    assert result.status_code == status, result.text
    assert result.headers["content-type"].startswith("application/json")
    error: dict[str, str | None] = result.json["error"]
    return error


@pytest.mark.parametrize("host_id", ["a/b", "x y", "a" * 65, "-lead", ".hidden", "é"])
async def test_a_host_id_that_cannot_be_a_path_segment_is_refused(
    client: Conductor, test_uri: str, host_id: str
) -> None:
    # "a/b" used to be stored, and then no route could reach or delete it.
    result = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": host_id, "uri": test_uri}
    )
    error = error_of(result, 400)
    assert error["field"] == "id"
    assert "letters, digits" in str(error["message"])
    listed = await client.simulate_get("/api/v1/hosts", headers=AUTH)
    assert [h["id"] for h in listed.json] == ["demo"]


async def test_a_plain_host_id_with_dots_and_dashes_is_accepted(
    client: Conductor, test_uri: str
) -> None:
    result = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "kvm-01.lab_a", "uri": test_uri}
    )
    assert result.status_code == 200, result.text
    info = await client.simulate_get("/api/v1/hosts/kvm-01.lab_a/info", headers=AUTH)
    assert info.status_code == 200, info.text


async def test_the_same_uri_under_a_second_id_is_a_409_naming_uri(
    client: Conductor, test_uri: str
) -> None:
    # Two ids on one hypervisor fought over the same domains (VMs hopped between hosts).
    first = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "lab", "uri": test_uri}
    )
    assert first.status_code == 200, first.text
    again = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "lab2", "uri": test_uri}
    )
    error = error_of(again, 409)
    assert error["field"] == "uri"
    assert "'lab'" in str(error["message"])
    listed = await client.simulate_get("/api/v1/hosts", headers=AUTH)
    assert {h["id"] for h in listed.json} == {"demo", "lab"}


async def test_a_duplicate_host_id_is_a_409_naming_the_id(client: Conductor, test_uri: str) -> None:
    result = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "demo", "uri": test_uri}
    )
    error = error_of(result, 409)
    assert error["field"] == "id"
    assert "'demo'" in str(error["message"])


async def test_not_found_messages_say_which_host_and_vm(client: Conductor) -> None:
    # Used to be libvirt's bare "Domain not found" and "no such host".
    vm = error_of(
        await client.simulate_get("/api/v1/hosts/demo/vms/nope/hardware", headers=AUTH), 404
    )
    assert "'nope'" in str(vm["message"])
    assert "'demo'" in str(vm["message"])
    action = error_of(
        await client.simulate_post(
            "/api/v1/hosts/demo/vms/nope/action", headers=AUTH, json={"action": "start"}
        ),
        404,
    )
    assert "'nope'" in str(action["message"])
    host = error_of(await client.simulate_get("/api/v1/hosts/ghost/info", headers=AUTH), 404)
    assert "'ghost'" in str(host["message"])


async def test_unrouted_paths_and_methods_say_what_was_asked(client: Conductor) -> None:
    # Used to be "404 Not Found" / "405 Method Not Allowed" and nothing else.
    missing = error_of(await client.simulate_get("/api/v1/hosts/a/b/c/d", headers=AUTH), 404)
    assert missing["code"] == "not_found"
    assert "/api/v1/hosts/a/b/c/d" in str(missing["message"])
    wrong = await client.simulate_get("/api/v1/hosts/demo", headers=AUTH)
    error = error_of(wrong, 405)
    assert error["code"] == "method_not_allowed"
    assert "GET" in str(error["message"])
    assert "DELETE" in str(error["message"])
    assert "DELETE" in wrong.headers["allow"]


async def test_body_errors_name_the_body(client: Conductor) -> None:
    wrong_type = await client.simulate_post(
        "/api/v1/hosts/demo/vms/db-01/action",
        headers={**AUTH, "Content-Type": "text/plain"},
        body=b'{"action": "start"}',
    )
    assert error_of(wrong_type, 415)["field"] == "body"
    too_big = await client.simulate_post(
        "/api/v1/hosts/demo/vms/db-01/action",
        headers={**AUTH, "Content-Type": "application/json"},
        body=b" " * (2 * 1024 * 1024),
    )
    assert error_of(too_big, 413)["field"] == "body"


@pytest.mark.parametrize(
    ("bind", "shown"),
    [
        ("127.0.0.1", "http://127.0.0.1:8890/"),
        ("0.0.0.0", "http://127.0.0.1:8890/"),
        ("::", "http://[::1]:8890/"),
        ("::1", "http://[::1]:8890/"),
        ("localhost", "http://localhost:8890/"),
    ],
)
@pytest.mark.unit
def test_the_printed_url_is_one_a_browser_can_open(bind: str, shown: str) -> None:
    assert browser_url(bind, 8890) == shown


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/hosts/demo/vms/import-selected"),
        ("DELETE", "/api/v1/hosts/demo/discovered-vms"),
    ],
)
async def test_a_malformed_domain_uuid_is_a_400_not_a_404(
    client: Conductor, method: str, path: str
) -> None:
    result = await client.simulate_request(
        method, path, headers=AUTH, json={"domain_uuids": ["not-a-uuid"]}
    )
    error = error_of(result, 400)
    assert error["field"] == "domain_uuids[0]"
    assert "not-a-uuid" in str(error["message"])


async def test_a_disconnected_host_is_named_in_the_503(client: Conductor, test_uri: str) -> None:
    added = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "lab", "uri": test_uri}
    )
    assert added.status_code == 200, added.text
    down = await client.simulate_post("/api/v1/hosts/lab/disconnect", headers=AUTH)
    assert down.status_code == 200, down.text
    error = error_of(await client.simulate_get("/api/v1/hosts/lab/info", headers=AUTH), 503)
    assert "'lab'" in str(error["message"])


async def test_health_answers_head_for_uptime_probes(client: Conductor) -> None:
    result = await client.simulate_head("/api/v1/health")
    assert result.status_code == 200
    assert result.text == ""


async def test_limit_given_twice_is_refused(client: Conductor) -> None:
    result = await client.simulate_get(
        "/api/v1/dashboard/activity", query_string="limit=1&limit=2", headers=AUTH
    )
    assert error_of(result, 400)["field"] == "limit"


async def test_a_huge_vm_name_is_not_echoed_whole(client: Conductor) -> None:
    name = "a" * 5000
    result = await client.simulate_get(f"/api/v1/hosts/demo/vms/{name}/hardware", headers=AUTH)
    error = error_of(result, 404)
    assert len(str(error["message"])) < 300


async def test_a_console_ticket_for_an_unknown_vm_is_a_404(client: Conductor) -> None:
    # It used to be a 409 "console unavailable" on the demo host: the host was judged first.
    result = await client.simulate_post("/api/v1/hosts/demo/vms/nope/console-ticket", headers=AUTH)
    assert error_of(result, 404)["code"] in {"not_found", "vm_not_found"}
