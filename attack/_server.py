"""A live ``virtumancer serve`` child process for the hostile suite."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from virtumancer.testing import free_port, stop_process, wait_until_healthy

TOKEN = "attack-bootstrap-token-0123456789"


class LiveServer:
    """``virtumancer serve --demo`` on a free loopback port, in a directory of its own.

    With ``no_auth`` it runs without a token; otherwise the token is given in a file
    (``--token-file``), never on the command line.
    """

    def __init__(self, workdir: Path, *, no_auth: bool = False, extra: tuple[str, ...] = ()):
        self.workdir = workdir
        self.no_auth = no_auth
        self.port = free_port()
        self.database = workdir / "virtumancer.db"
        self.token_file = workdir / "token"
        self.stdout = workdir / "stdout.txt"
        self.stderr = workdir / "stderr.txt"
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.no_auth else {"Authorization": f"Bearer {TOKEN}"}

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers=self.headers,
            timeout=30.0,
            **options,  # type: ignore[arg-type]
        )

    def __enter__(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        auth: list[str] = ["--no-auth"]
        if not self.no_auth:
            self.token_file.write_text(TOKEN + "\n")
            self.token_file.chmod(0o600)
            auth = ["--token-file", str(self.token_file)]
        args = [
            sys.executable,
            "-m",
            "virtumancer_server.cli",
            "serve",
            "--port",
            str(self.port),
            "--database",
            f"sqlite:///{self.database}",
            *auth,
            "--demo",
            "--test-uri-dir",
            tempfile.gettempdir(),
            "--log-level",
            "warning",
            *self.extra,
        ]
        env = {**os.environ, "XDG_DATA_HOME": str(self.workdir / "data"), "PYTHONUNBUFFERED": "1"}
        env.pop("VIRTUMANCER_TOKEN", None)
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        wait_until_healthy(self.url, process=self.process, log=self.stderr)
        return self

    def rss_bytes(self) -> int:
        """Return the server process's resident set size."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None
