"""A throwaway fleet for benchmarks: a PostgreSQL cluster and ``virtumancer serve`` replicas.

Shared by ``bench_failover`` and ``bench_fleet_scale``. Replicas accept ``test+unix`` node
files under the benchmark's work directory (libvirtd must run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from virtumancer.testing import free_port, stop_process, wait_until_healthy

__all__ = [
    "HEADERS",
    "TOKEN",
    "Replica",
    "live_state",
    "owner_of",
    "postgres",
]

TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token for a loopback run
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise SystemExit(f"PostgreSQL's {name} not found")


_QUIET: dict[str, Any] = {"check": True, "capture_output": True}


@contextmanager
def postgres(base: Path, *, max_connections: int = 100) -> Iterator[str]:
    """Run a throwaway cluster under ``base``; yield its SQLAlchemy URL."""
    base.chmod(0o755)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    pg_ctl = [*as_postgres, _pg_bin("pg_ctl"), "-D", str(data)]
    subprocess.run([*as_postgres, _pg_bin("initdb"), "-D", str(data), "-A", "trust"], **_QUIET)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    options += f" -c max_connections={max_connections}"
    subprocess.run([*pg_ctl, "-l", str(base / "log"), "-w", "-o", options, "start"], **_QUIET)
    try:
        user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], **_QUIET)


class Replica:
    """One ``virtumancer serve`` process of the fleet (started and stopped on demand)."""

    def __init__(
        self, replica_id: str, database_url: str, workdir: Path, *, log_level: str = "info"
    ) -> None:
        self.id = replica_id
        self.log_level = log_level
        self.database_url = database_url
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self, *, within: float = 60.0) -> None:
        """Start the process and wait until ``/health`` answers 200."""
        args = [sys.executable, "-m", "virtumancer_server.cli", "serve"]
        args += ["--port", str(self.port), "--database", self.database_url, "--token", TOKEN]
        args += ["--replica-id", self.id, "--allow-test-uris", "--test-uri-dir", str(self.workdir)]
        args += ["--log-level", self.log_level]
        env = {**os.environ, "XDG_DATA_HOME": str(self.workdir / f"data-{self.id}")}
        log = self.workdir / f"{self.id}.log"
        with log.open("ab") as sink:
            self.process = subprocess.Popen(args, stdout=sink, stderr=sink, env=env)
        wait_until_healthy(
            f"http://127.0.0.1:{self.port}", process=self.process, log=log, within=within
        )

    def kill(self) -> None:
        """``kill -9`` the process."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Stop the process cleanly (SIGTERM; SIGKILL if it lingers)."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def get(self, path: str, *, timeout: float = 5) -> Any:
        """GET ``path`` under ``/api/v1`` and return the decoded JSON body."""
        response = httpx.get(f"{self.api}{path}", headers=HEADERS, timeout=timeout)
        response.raise_for_status()
        return response.json()


def owner_of(replica: Replica, host_id: str) -> str | None:
    """Return the id of the live replica owning ``host_id``, as ``replica`` sees the fleet."""
    cluster = replica.get("/cluster")
    assert isinstance(cluster, dict)
    for entry in cluster["replicas"]:
        if entry["alive"] and host_id in entry["hosts"]:
            return str(entry["id"])
    return None


def live_state(replica: Replica, host_id: str) -> str | None:
    """Return the state of ``host_id`` in ``replica``'s host list."""
    hosts = replica.get("/hosts")
    assert isinstance(hosts, list)
    return next((str(h["state"]) for h in hosts if h["id"] == host_id), None)
