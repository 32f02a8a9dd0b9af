"""Fixtures for the service: the app in process (falcon.testing) and a real uvicorn process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import falcon.asgi
import falcon.testing
import httpx
import pytest

from virtumancer.manager import Virtumancer
from virtumancer.testing import free_port as free_port
from virtumancer.testing import stop_process, wait_until_healthy
from virtumancer_server.app import create_app
from virtumancer_server.config import ServerConfig
from virtumancer_server.demo import ensure_demo_host

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_START_TIMEOUT_S = 60.0


async def wait_for(
    predicate: Callable[[], Any], *, within: float = 20.0, interval: float = 0.1
) -> Any:
    """Await ``predicate()`` (sync or async) until it returns something truthy."""
    import anyio

    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await anyio.sleep(interval)


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Virtumancer]:
    """An open facade on a fresh SQLite database, with the demo host added.

    Its URI policy is the server's: test nodes from the demo and the temporary directory.
    """
    policy = ServerConfig(
        token=TOKEN, allow_test_uris=True, test_uri_dirs=(tempfile.gettempdir(),)
    ).uri_policy()
    async with Virtumancer(f"sqlite:///{tmp_path / 'server.db'}", uri_policy=policy) as vm:
        await ensure_demo_host(vm)
        yield vm


@pytest.fixture
def app(manager: Virtumancer) -> falcon.asgi.App[Any, Any]:
    """The app over ``manager``, token auth on."""
    return create_app(ServerConfig(token=TOKEN), manager=manager)


@pytest.fixture
async def client(app: falcon.asgi.App[Any, Any]) -> AsyncIterator[falcon.testing.ASGIConductor]:
    """A falcon.testing conductor over ``app`` (lifespan run)."""
    async with falcon.testing.ASGIConductor(app) as conductor:
        yield conductor


@attrs.define
class ServerProcess:
    """``virtumancer serve`` in a child process (``python -m virtumancer_server.cli``)."""

    database_url: str
    workdir: Path
    token: str | None = TOKEN
    demo: bool = True
    extra_args: tuple[str, ...] = ()
    port: int = attrs.field(factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def stdout_path(self) -> Path:
        return self.workdir / f"stdout-{self.runs}.txt"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"stderr-{self.runs}.txt"

    def start(self) -> None:
        self.runs += 1
        args = [
            sys.executable,
            "-m",
            "virtumancer_server.cli",
            "serve",
            "--port",
            str(self.port),
            "--database",
            self.database_url,
            *(("--token", self.token) if self.token else ()),
            *(("--demo",) if self.demo else ()),
            "--allow-test-uris",
            "--test-uri-dir",
            tempfile.gettempdir(),
            *self.extra_args,
        ]
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("VIRTUMANCER_TOKEN", None)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        try:
            wait_until_healthy(
                self.url, process=self.process, log=self.stderr_path, within=_START_TIMEOUT_S
            )
        except RuntimeError as error:
            raise AssertionError(f"server not ready: {error}") from None

    def stop(self) -> int:
        """SIGTERM the server and wait for a graceful exit; return its exit code."""
        assert self.process is not None
        try:
            code = stop_process(self.process)
        finally:
            self.process = None
        if code == -signal.SIGKILL:
            raise AssertionError("the server did not stop within 30 s of SIGTERM")
        return code

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=self.headers, timeout=30.0)


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Make (and start) ``virtumancer serve`` processes; all stopped after the test."""
    made: list[ServerProcess] = []

    def make(*, start: bool = True, **options: Any) -> ServerProcess:
        workdir = tmp_path / f"server{len(made)}"
        workdir.mkdir()
        options.setdefault("database_url", f"sqlite:///{workdir / 'virtumancer.db'}")
        server = ServerProcess(workdir=workdir, **options)
        made.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in made:
        if server.process is not None:
            server.stop()


@pytest.fixture
def server(server_factory: ServerFactory) -> ServerProcess:
    """A running ``virtumancer serve --demo`` with the test token."""
    return server_factory()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """A new, empty database in the session's throwaway PostgreSQL cluster."""
    import secrets

    import psycopg

    name = f"vmt_server_{secrets.token_hex(4)}"
    admin_url = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # a generated name, not input
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"
