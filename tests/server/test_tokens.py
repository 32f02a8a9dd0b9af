"""API tokens with roles: the role matrix, expiry, revoke, secrets, sessions and the actor."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import httpx
import pytest
from sqlalchemy import update

from tests.server.conftest import AUTH, ServerFactory, wait_for
from virtumancer import Role
from virtumancer.db.schema import ApiTokenRow
from virtumancer.manager import Virtumancer
from virtumancer_server.auth import SESSION_COOKIE
from virtumancer_server.openapi import openapi_document
from virtumancer_server.permissions import ROUTE_ROLES

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt]

ACTION = "/api/v1/hosts/demo/vms/web-01/action"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def make_token(manager: Virtumancer, role: Role, name: str | None = None) -> str:
    created = await manager.create_token(name or f"{role}-token", role)
    return created.secret


async def test_role_matrix(client: falcon.testing.ASGIConductor, manager: Virtumancer) -> None:
    viewer = bearer(await make_token(manager, Role.VIEWER))
    operator = bearer(await make_token(manager, Role.OPERATOR))
    admin = bearer(await make_token(manager, Role.ADMIN))

    assert (await client.simulate_get("/api/v1/hosts", headers=viewer)).status_code == 200
    refused = await client.simulate_post(ACTION, headers=viewer, json={"action": "suspend"})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "forbidden"
    assert "operator role" in refused.json["error"]["message"]

    done = await client.simulate_post(ACTION, headers=operator, json={"action": "suspend"})
    assert done.status_code == 204, done.text
    new_host = {"id": "second", "uri": "test:///default"}
    refused = await client.simulate_post("/api/v1/hosts", headers=operator, json=new_host)
    assert refused.status_code == 403
    assert "admin role" in refused.json["error"]["message"]
    assert (await client.simulate_get("/api/v1/tokens", headers=operator)).status_code == 403

    added = await client.simulate_post("/api/v1/hosts", headers=admin, json=new_host)
    assert added.status_code == 200, added.text
    done = await client.simulate_post(ACTION, headers=admin, json={"action": "resume"})
    assert done.status_code == 204, done.text
    assert (await client.simulate_get("/api/v1/tokens", headers=admin)).status_code == 200


async def test_unknown_expired_and_revoked_tokens_get_401(
    client: falcon.testing.ASGIConductor, manager: Virtumancer
) -> None:
    unknown = await client.simulate_get("/api/v1/hosts", headers=bearer("vmt_" + "x" * 43))
    assert unknown.status_code == 401

    secret = await make_token(manager, Role.VIEWER, "short-lived")
    assert (await client.simulate_get("/api/v1/hosts", headers=bearer(secret))).status_code == 200
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    await manager.database.run(
        lambda s: s.execute(
            update(ApiTokenRow).where(ApiTokenRow.name == "short-lived").values(expires_at=past)
        )
    )
    manager.tokens.clear_cache()  # what the cache TTL does on its own a few seconds later
    expired = await client.simulate_get("/api/v1/hosts", headers=bearer(secret))
    assert expired.status_code == 401

    secret = await make_token(manager, Role.OPERATOR, "to-revoke")
    assert (await client.simulate_get("/api/v1/hosts", headers=bearer(secret))).status_code == 200
    listed = (await client.simulate_get("/api/v1/tokens", headers=AUTH)).json
    token_id = next(t["id"] for t in listed if t["name"] == "to-revoke")
    revoked = await client.simulate_delete(f"/api/v1/tokens/{token_id}", headers=AUTH)
    assert revoked.status_code == 204
    # At once (the cache is emptied by the revoke), not after the cache's lifetime.
    after = await client.simulate_get("/api/v1/hosts", headers=bearer(secret))
    assert after.status_code == 401
    again = await client.simulate_delete("/api/v1/tokens/0123456789abcdef", headers=AUTH)
    assert again.status_code == 404


async def test_create_validates_and_shows_the_secret_once(
    client: falcon.testing.ASGIConductor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await client.simulate_post(
        "/api/v1/tokens",
        headers=AUTH,
        json={"name": "ci", "role": "viewer", "expires_at": "2999-01-01T00:00:00Z"},
    )
    assert created.status_code == 201, created.text
    body = created.json
    secret = body["secret"]
    assert secret.startswith("vmt_")
    assert len(secret) > 40
    assert body["role"] == "viewer"
    assert body["expires_at"] == "2999-01-01T00:00:00Z"
    assert (await client.simulate_get("/api/v1/hosts", headers=bearer(secret))).status_code == 200

    listed = await client.simulate_get("/api/v1/tokens", headers=AUTH)
    assert secret not in listed.text
    assert "secret" not in listed.json[0]
    assert listed.json[0]["last_used_at"] is not None

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"name": "x", "role": "root"}, 400, "role"),
        ({"name": "bad name", "role": "viewer"}, 400, "name"),
        ({"role": "viewer"}, 400, "name"),
        (
            {"name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"},
            400,
            "expires_at",
        ),
        ({"name": "when", "role": "viewer", "expires_at": "soon"}, 400, "expires_at"),
        ({"name": "ci", "role": "admin"}, 409, "name"),
    ]
    for payload, status, field in cases:
        refused = await client.simulate_post("/api/v1/tokens", headers=AUTH, json=payload)
        assert refused.status_code == status, (payload, refused.text)
        assert refused.json["error"]["field"] == field
    assert secret not in caplog.text


async def test_activity_records_the_actor(
    client: falcon.testing.ASGIConductor, manager: Virtumancer
) -> None:
    admin = bearer(await make_token(manager, Role.ADMIN, "alice"))
    added = await client.simulate_post(
        "/api/v1/hosts", headers=admin, json={"id": "second", "uri": "test:///default"}
    )
    assert added.status_code == 200
    await client.simulate_post(
        "/api/v1/tokens", headers=AUTH, json={"name": "bob", "role": "viewer"}
    )
    activity = (await client.simulate_get("/api/v1/dashboard/activity", headers=AUTH)).json
    by_message = {entry["message"]: entry for entry in activity}
    assert by_message["Host second added"]["actor"] == "alice"
    assert by_message["Token bob (viewer) created"]["actor"] == "bootstrap"
    # Made through the library with no actor set: nobody is claimed.
    assert by_message["Token alice (admin) created"]["actor"] is None

    # Changes that libvirt reports back through pool events carry the actor too.
    operator = bearer(await make_token(manager, Role.OPERATOR, "carol"))
    done = await client.simulate_post(ACTION, headers=operator, json={"action": "suspend"})
    assert done.status_code == 204
    done = await client.simulate_post("/api/v1/hosts/second/disconnect", headers=admin)
    assert done.status_code == 200

    async def entries() -> dict[str, Any]:
        feed = (await client.simulate_get("/api/v1/dashboard/activity", headers=AUTH)).json
        found = {entry["message"]: entry for entry in feed}
        wanted = ("VM web-01 suspended on host demo", "Host second disconnected")
        return found if all(message in found for message in wanted) else {}

    by_message = await wait_for(entries)
    assert by_message["VM web-01 suspended on host demo"]["actor"] == "carol"
    assert by_message["Host second disconnected"]["actor"] == "alice"


async def test_session_cookie_carries_the_role(
    client: falcon.testing.ASGIConductor, manager: Virtumancer
) -> None:
    viewer = bearer(await make_token(manager, Role.VIEWER))
    session = await client.simulate_post("/api/v1/session", headers=viewer)
    assert session.status_code == 204
    cookie = session.cookies[SESSION_COOKIE].value
    assert cookie.split(".")[0] != "bootstrap"
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    async with client.simulate_ws("/ws", headers=headers):
        pass  # accepted: the feed is for viewers
    with pytest.raises(falcon.WebSocketDisconnected) as refused:
        async with client.simulate_ws(
            "/api/v1/hosts/demo/vms/web-01/console", headers=headers
        ) as ws:
            await ws.receive_data()
    assert refused.value.code == 3403
    forged = {"Cookie": f"{SESSION_COOKIE}={cookie[:-2]}00"}
    with pytest.raises(falcon.WebSocketDisconnected) as unknown:
        async with client.simulate_ws("/ws", headers=forged) as ws:
            await ws.receive_text()
    assert unknown.value.code == 3401


def test_every_documented_route_has_a_role() -> None:
    documented = {
        (_full_path(path, item), method.upper())
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method != "servers"
    }
    listed = {(template, method) for template, methods in ROUTE_ROLES.items() for method in methods}
    public = {("/api/v1/health", "GET")}
    assert documented - public <= listed
    assert {(t, m) for t, m in listed if m != "WEBSOCKET"} - documented <= {
        ("/api/v1/hosts/{host_id}/vms/{vm_name}/console", "GET"),
        ("/api/v1/hosts/{host_id}/vms/{vm_name}/spice", "GET"),
        ("/api/v1/hosts/{host_id}/vms/{vm_name}/console-ticket", "POST"),
    }


def _full_path(path: str, item: dict[str, Any]) -> str:
    # A path item may name its own server (``/ws`` lives outside ``/api/v1``).
    servers = item.get("servers") or [{"url": "/api/v1"}]
    base: str = servers[0]["url"]
    return base.rstrip("/") + path


def _cli(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("VIRTUMANCER_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "virtumancer_server.cli", "token", *args, "--database", database],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_create_list_revoke_with_a_real_server(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    created = _cli(
        "create", "deploy", "--role", "operator", "--expires-in", "30d", database=database
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("vmt_")
    duplicate = _cli("create", "deploy", "--role", "viewer", database=database)
    assert duplicate.returncode == 4  # conflict (docs/cli.md's exit codes)
    assert "already exists" in duplicate.stderr
    bad = _cli("create", "other", "--role", "viewer", "--expires-in", "soon", database=database)
    assert bad.returncode == 2
    assert "expires_in" in bad.stderr

    server = server_factory(database_url=database)
    with httpx.Client(base_url=server.url, headers=bearer(secret), timeout=30) as http:
        assert http.get("/api/v1/hosts").status_code == 200
        refused = http.delete("/api/v1/hosts/demo")
        assert refused.status_code == 403
        assert "admin role" in refused.json()["error"]["message"]
        activity = http.get("/api/v1/dashboard/activity").json()
        assert any(e["type"] == "token_created" and e["actor"] == "cli" for e in activity)

    listed = _cli("list", database=database)
    assert listed.returncode == 0
    assert "deploy" in listed.stdout
    assert "operator" in listed.stdout
    assert "active" in listed.stdout
    assert secret not in listed.stdout
    revoked = _cli("revoke", "deploy", database=database)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in _cli("list", database=database).stdout
    assert _cli("revoke", "nobody", database=database).returncode == 3  # not found
    server.stop()
    logs = server.stdout_path.read_text() + server.stderr_path.read_text()
    assert secret not in logs
