"""Error bodies carry one clear line, even when libvirt/ssh pass on a whole screen of text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pytest

from tests.server.conftest import AUTH

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt, pytest.mark.ssh]


@pytest.fixture
def open_key() -> Iterator[Path]:
    """A "key" readable by others, where the URI policy lets ``keyfile=`` point (~/.ssh)."""
    key = Path.home() / ".ssh" / f"vmt-open-key-{uuid.uuid4().hex[:8]}"
    key.write_text("not a key\n")
    key.chmod(0o644)
    yield key
    key.unlink(missing_ok=True)


async def test_ssh_banner_becomes_one_line(
    client: falcon.testing.ASGIConductor, open_key: Path
) -> None:
    # ssh prints its multi-line UNPROTECTED PRIVATE KEY banner for such a key.
    key = open_key
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
