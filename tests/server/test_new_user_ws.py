"""A refused ``/ws`` upgrade says why, like the console routes (a real uvicorn process)."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.server.conftest import ServerProcess

pytestmark = [pytest.mark.libvirt, pytest.mark.anyio]


async def test_missing_or_wrong_token_is_a_401_with_the_json_error(
    server: ServerProcess,
) -> None:
    # Used to be a bare 403 (uvicorn's answer to a close before accept), as for a bad Origin.
    url = f"ws://127.0.0.1:{server.port}/ws"
    for headers in ({}, {"Authorization": "Bearer wrong-token"}):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        response = refused.value.response
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert json.loads(response.body or b"")["error"]["code"] == "unauthorized"


async def test_foreign_origin_is_a_403_with_the_json_error(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"ws://127.0.0.1:{server.port}/ws",
            additional_headers=server.headers,
            origin="http://evil.example",  # type: ignore[arg-type]
        ):
            pass
    response = refused.value.response
    assert response.status_code == 403
    assert json.loads(response.body or b"")["error"]["code"] == "forbidden"
    log = server.stderr_path.read_text() + server.stdout_path.read_text()
    assert "Traceback" not in log
