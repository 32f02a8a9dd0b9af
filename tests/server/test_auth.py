"""WebSocket authentication and Origin checks (``authenticate_websocket``), in process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pytest

from virtumancer_server.auth import SESSION_COOKIE, authenticate_websocket, session_value
from virtumancer_server.config import ServerConfig

pytestmark = pytest.mark.anyio

TOKEN = "ws-token-0123456789"


class Echo:
    """A WebSocket route guarded the way /ws and the consoles guard theirs."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        authenticate_websocket(req, self._config)
        await ws.accept()
        await ws.send_text("welcome")
        with contextlib.suppress(falcon.WebSocketDisconnected):
            await ws.receive_text()


def make_app(config: ServerConfig) -> falcon.asgi.App[Any, Any]:
    app: falcon.asgi.App[Any, Any] = falcon.asgi.App()
    app.add_route("/ws", Echo(config))
    return app


@pytest.fixture
async def conductor() -> AsyncIterator[falcon.testing.ASGIConductor]:
    config = ServerConfig(token=TOKEN, allowed_origins=("https://UI.example:8443/",))
    async with falcon.testing.ASGIConductor(make_app(config)) as c:
        yield c


async def outcome(conductor: falcon.testing.ASGIConductor, **kwargs: Any) -> str | int:
    """Return the first text message, or the close code if the socket was refused."""
    try:
        async with conductor.simulate_ws("/ws", **kwargs) as ws:
            text: str = await ws.receive_text()
            return text
    except falcon.WebSocketDisconnected as exc:
        code: int = exc.code
        return code


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"Authorization": f"Bearer {TOKEN}"}},
        {"query_string": f"token={TOKEN}"},
        {"headers": {"Cookie": f"{SESSION_COOKIE}={session_value(TOKEN)}"}},
        {"query_string": f"token={TOKEN}", "headers": {"Origin": "https://ui.example:8443"}},
    ],
)
async def test_accepted_credentials(conductor: falcon.testing.ASGIConductor, kwargs: Any) -> None:
    assert await outcome(conductor, **kwargs) == "welcome"


async def test_same_origin_is_accepted(conductor: falcon.testing.ASGIConductor) -> None:
    headers = {"Origin": "http://falconframework.org", "Host": "falconframework.org"}
    assert await outcome(conductor, query_string=f"token={TOKEN}", headers=headers) == "welcome"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"query_string": "token=wrong"},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"headers": {"Cookie": f"{SESSION_COOKIE}={TOKEN}"}},  # the token is not the cookie
        {"headers": {"Cookie": f"{SESSION_COOKIE}=0000"}},
    ],
)
async def test_refused_credentials(conductor: falcon.testing.ASGIConductor, kwargs: Any) -> None:
    assert await outcome(conductor, **kwargs) == 3401


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "http://falconframework.org:8080", "file://"],
)
async def test_foreign_origin_is_refused_even_with_the_token(
    conductor: falcon.testing.ASGIConductor, origin: str
) -> None:
    headers = {"Origin": origin, "Host": "falconframework.org"}
    assert await outcome(conductor, query_string=f"token={TOKEN}", headers=headers) == 3403


async def test_no_auth_still_checks_origin() -> None:
    app = make_app(ServerConfig(no_auth=True))
    async with falcon.testing.ASGIConductor(app) as c:
        assert await outcome(c) == "welcome"
        assert await outcome(c, headers={"Origin": "https://evil.example"}) == 3403


def test_config_refuses_unsafe_setups() -> None:
    with pytest.raises(ValueError, match="token is required"):
        ServerConfig()
    with pytest.raises(ValueError, match="non-loopback"):
        ServerConfig(host="0.0.0.0", no_auth=True)
    with pytest.raises(ValueError, match="at least 8"):
        ServerConfig(token="short")
    assert ServerConfig(host="::1", no_auth=True).auth_required is False
