"""Error bodies carry one clear line, even when libvirt/ssh pass on a whole screen of text."""

from __future__ import annotations

from pathlib import Path

import falcon.testing
import pytest

from tests.server.conftest import AUTH

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt, pytest.mark.ssh]


async def test_ssh_banner_becomes_one_line(
    client: falcon.testing.ASGIConductor, tmp_path: Path
) -> None:
    # A "key" readable by others: ssh prints its multi-line UNPROTECTED PRIVATE KEY banner.
    key = tmp_path / "open-key"
    key.write_text("not a key\n")
    key.chmod(0o644)
    uri = f"qemu+ssh://root@127.0.0.1:2222/system?keyfile={key}&no_verify=1"
    result = await client.simulate_post(
        "/api/v1/hosts", headers=AUTH, json={"id": "banner", "uri": uri}
    )
    assert result.status_code == 500, result.text
    message = result.json["error"]["message"]
    assert "\n" not in message
    assert "\r" not in message
    assert "@@@" not in message
    assert len(message) <= 300
    assert "UNPROTECTED PRIVATE KEY FILE" in message
    assert "It is required that your private key files" not in message
    hosts = await client.simulate_get("/api/v1/hosts", headers=AUTH)
    assert "banner" not in {h["id"] for h in hosts.json}
