"""``GET /api/v1/hosts/{id}/vms`` with 1,000 VMs: the real server vs a bare Falcon app.

Both run under uvicorn in child processes on loopback, in the same run; the bare app returns
the very bytes the real server returned. A bounded load (``--clients`` concurrent keep-alive
httpx clients, ``--requests`` requests in all) measures requests/s of each; the ratio real/bare
is printed (target >= 0.5).

    .venv/bin/python benchmarks/bench_server.py [--requests 400] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from virtumancer.testing import free_port, make_test_node_xml

TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token for a loopback run
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
PATH = "/api/v1/hosts/bench/vms"


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not ready")


def run_bare_app(body_file: str, port: int) -> None:
    """Serve ``body_file`` at every path with a bare Falcon ASGI app (the baseline)."""
    import falcon
    import falcon.asgi
    import uvicorn

    body = Path(body_file).read_bytes()

    async def sink(req: falcon.asgi.Request, resp: falcon.asgi.Response | None, **_: Any) -> None:
        assert resp is not None
        resp.content_type = falcon.MEDIA_JSON
        resp.data = body

    app: falcon.asgi.App[Any, Any] = falcon.asgi.App()
    app.add_sink(sink, "/")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


async def _load(url: str, total: int, clients: int) -> float:
    per_client = total // clients
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits, timeout=60.0) as client:
        await client.get(url)  # warm up

        async def worker() -> None:
            for _ in range(per_client):
                response = await client.get(url)
                response.raise_for_status()
                await response.aread()

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(clients):
                group.create_task(worker())
        elapsed = time.perf_counter() - start
    return per_client * clients / elapsed


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (``argv`` defaults to none: the default load)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--bare-app", nargs=2, metavar=("BODY_FILE", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv or [])
    if args.bare_app:
        run_bare_app(args.bare_app[0], int(args.bare_app[1]))
        return

    with tempfile.TemporaryDirectory(prefix="vmt-bench-") as tmp:
        work = Path(tmp)
        node = work / "node.xml"
        node.write_text(make_test_node_xml(domains=args.vms, prefix="bench-"))
        port = free_port()
        env = {**os.environ, "XDG_DATA_HOME": str(work)}
        real = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "virtumancer_server.cli",
                "serve",
                "--port",
                str(port),
                "--database",
                f"sqlite:///{work / 'bench.db'}",
                "--token",
                TOKEN,
                "--allow-test-uris",
                "--test-uri-dir",
                tempfile.gettempdir(),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        bare: subprocess.Popen[bytes] | None = None
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(f"{base}/api/v1/health", real)
            with httpx.Client(base_url=f"{base}/api/v1", headers=HEADERS, timeout=120) as client:
                client.post(
                    "/hosts", json={"id": "bench", "uri": f"test://{node}"}
                ).raise_for_status()
                client.post("/hosts/bench/vms/import-all").raise_for_status()
                deadline = time.monotonic() + 120
                while len(client.get("/hosts/bench/vms").json()) < args.vms:
                    if time.monotonic() > deadline:
                        raise SystemExit("import did not finish")
                    time.sleep(0.5)
                body = client.get("/hosts/bench/vms").content
            body_file = work / "body.json"
            body_file.write_bytes(body)

            bare_port = free_port()
            bare = subprocess.Popen(
                [sys.executable, __file__, "--bare-app", str(body_file), str(bare_port)]
            )
            bare_base = f"http://127.0.0.1:{bare_port}"
            _wait_ready(f"{bare_base}{PATH}", bare)

            real_rps = asyncio.run(_load(f"{base}{PATH}", args.requests, args.clients))
            bare_rps = asyncio.run(_load(f"{bare_base}{PATH}", args.requests, args.clients))
        finally:
            for process in (real, bare):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
    print(
        f"GET {PATH} with {args.vms} VMs ({len(body)} bytes), {args.clients} clients, "
        f"{args.requests} requests each side"
    )
    print(f"  virtumancer (uvicorn): {real_rps:8.1f} req/s")
    print(f"  bare falcon (uvicorn): {bare_rps:8.1f} req/s")
    print(f"  ratio: {real_rps / bare_rps:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main(sys.argv[1:])
