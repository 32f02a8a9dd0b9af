"""Fleet failover: ``kill -9`` the owner of a host -> the host CONNECTED on another replica.

Three ``virtumancer serve`` processes on one throwaway PostgreSQL cluster, three
``test+unix`` hosts (libvirtd must run). Each round kills the owner of host ``h0``, waits
until another live replica owns it and reports it CONNECTED (its live state), then starts
the killed replica again. Prints p50 and max over ``--kills`` rounds (target <= 15 s).

    .venv/bin/python -m benchmarks failover      (5 kills; main(["--kills", "10"]) for more)
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks._harness import percentile, report
from virtumancer.testing import make_test_node_xml

TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token for a loopback run
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise SystemExit(f"PostgreSQL's {name} not found")


_QUIET: dict[str, Any] = {"check": True, "capture_output": True}


@contextmanager
def postgres(base: Path) -> Iterator[str]:
    """Run a throwaway cluster under ``base``; yield its SQLAlchemy URL."""
    base.chmod(0o755)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data, port = base / "data", _free_port()
    pg_ctl = [*as_postgres, _pg_bin("pg_ctl"), "-D", str(data)]
    subprocess.run([*as_postgres, _pg_bin("initdb"), "-D", str(data), "-A", "trust"], **_QUIET)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*pg_ctl, "-l", str(base / "log"), "-w", "-o", options, "start"], **_QUIET)
    try:
        user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], **_QUIET)


class Replica:
    def __init__(self, replica_id: str, database_url: str, workdir: Path) -> None:
        self.id = replica_id
        self.database_url = database_url
        self.workdir = workdir
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> None:
        args = [sys.executable, "-m", "virtumancer_server.cli", "serve"]
        args += ["--port", str(self.port), "--database", self.database_url, "--token", TOKEN]
        args += ["--replica-id", self.id, "--allow-test-uris", "--test-uri-dir", str(self.workdir)]
        env = {**os.environ, "XDG_DATA_HOME": str(self.workdir / f"data-{self.id}")}
        log = (self.workdir / f"{self.id}.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"replica {self.id} did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def get(self, path: str) -> object:
        return httpx.get(f"{self.api}{path}", headers=HEADERS, timeout=5).json()


def owner_of(replica: Replica, host_id: str) -> str | None:
    cluster = replica.get("/cluster")
    assert isinstance(cluster, dict)
    for entry in cluster["replicas"]:
        if entry["alive"] and host_id in entry["hosts"]:
            return str(entry["id"])
    return None


def live_state(replica: Replica, host_id: str) -> str | None:
    hosts = replica.get("/hosts")
    assert isinstance(hosts, list)
    return next((str(h["state"]) for h in hosts if h["id"] == host_id), None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args(argv if argv is not None else [])
    base = Path(tempfile.mkdtemp(prefix="vmt-failover-"))
    base.chmod(0o755)
    (base / "pg").mkdir()
    with postgres(base / "pg") as url:
        replicas = {f"r{n}": Replica(f"r{n}", url, base) for n in range(3)}
        try:
            for replica in replicas.values():
                replica.start()
            first = replicas["r0"]
            for n in range(3):
                node = base / f"node{n}.xml"
                node.write_text(make_test_node_xml(domains=4))
                node.chmod(0o644)
                response = httpx.post(
                    f"{first.api}/hosts",
                    headers=HEADERS,
                    json={"id": f"h{n}", "uri": f"test+unix://{node}"},
                    timeout=30,
                )
                response.raise_for_status()
            times: list[float] = []
            for _ in range(args.kills):
                time.sleep(4)  # let the fleet settle (renewals, spread)
                victim_id = owner_of(first if first.process else replicas["r1"], "h0")
                assert victim_id is not None
                victim = replicas[victim_id]
                witness = next(r for r in replicas.values() if r is not victim and r.process)
                killed = time.monotonic()
                victim.kill()
                while True:
                    try:
                        owner = owner_of(witness, "h0")
                        if (
                            owner not in (None, victim_id)
                            and live_state(replicas[owner], "h0") == "CONNECTED"
                        ):
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() - killed > 120:
                        raise SystemExit("no failover within 120 s")
                    time.sleep(0.05)
                times.append(time.monotonic() - killed)
                print(f"  kill {len(times)}: {victim_id} -> {owner}: {times[-1]:.2f} s")
                victim.start()
            report("failover p50 (kill -9 -> CONNECTED elsewhere)", percentile(times, 50))
            report(
                "failover max",
                max(times),
                target="<= 15 s",
                ok=max(times) <= 15,
            )
        finally:
            for replica in replicas.values():
                replica.stop()
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
