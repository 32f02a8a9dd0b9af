"""Event latency: a state change made through another connection -> our typed event.

A domain of libvirt's test driver is suspended and resumed 100 times with the plain libvirt
API on a second connection; each time we measure from just before that call to the moment the
pool's subscriber receives the matching ``DomainLifecycleEvent``. The host is reached with
``test+unix://`` so every event really crosses the daemon's socket. Target: p50 <= 20 ms.

``test:///default`` is the only test-driver node whose state connections share, so the run
uses a private session-mode libvirtd (as ``nobody``, needs root) rather than the system
daemon others may be testing on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import libvirt

from benchmarks._harness import percentile, report, summary
from virtumancer import ConnectionPool, DomainLifecycleEvent

CHANGES = 100
TARGET_P50_MS = 20.0


@contextmanager
def private_libvirtd() -> Iterator[tuple[str, str]]:
    """Run a session libvirtd as ``nobody``; yield (uri, socket dir)."""
    directory = Path(tempfile.mkdtemp(prefix="vmt-bench-libvirtd-"))
    directory.chmod(0o755)
    shutil.chown(directory, user="nobody", group="nogroup")
    socket = directory / "run" / "libvirt" / "libvirt-sock"
    env = {
        "HOME": str(directory),
        "XDG_RUNTIME_DIR": f"{directory}/run",
        "XDG_CONFIG_HOME": f"{directory}/config",
        "XDG_CACHE_HOME": f"{directory}/cache",
        "XDG_DATA_HOME": f"{directory}/data",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    process = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "libvirtd"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=directory,
    )
    uri = f"test+unix:///default?socket={socket}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                libvirt.open(uri).close()
                break
            except libvirt.libvirtError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield uri, str(socket.parent)
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


async def measure(uri: str, socket_dir: str) -> list[float]:
    changer = await anyio.to_thread.run_sync(libvirt.open, uri)
    domain = changer.lookupByName("test")
    uuid = domain.UUIDString()
    latencies: list[float] = []
    async with ConnectionPool(extra_socket_dirs=[socket_dir]) as pool:
        await pool.add_host("bench", uri)
        async with pool.subscribe() as events:
            for index in range(CHANGES):
                change = domain.suspend if index % 2 == 0 else domain.resume
                started = time.perf_counter()
                await anyio.to_thread.run_sync(change)
                with anyio.fail_after(10):
                    async for event in events:
                        if isinstance(event, DomainLifecycleEvent) and event.domain_uuid == uuid:
                            break
                latencies.append(time.perf_counter() - started)
    changer.close()
    return latencies


def main() -> None:
    """Print p50/p99 of the change -> event latency."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        print("skipped: needs root and setpriv to run a private libvirtd")
        return
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no stderr noise while polling
    with private_libvirtd() as (uri, socket_dir):
        latencies = anyio.run(measure, uri, socket_dir, backend="asyncio")
    print(f"    {summary(latencies)}")
    p50 = percentile(latencies, 50) * 1000
    report(
        f"change -> typed event latency, p50 over {CHANGES} changes",
        p50,
        unit="ms",
        target=f"<= {TARGET_P50_MS:g} ms",
        ok=p50 <= TARGET_P50_MS,
    )
    report(
        f"change -> typed event latency, p99 over {CHANGES} changes",
        percentile(latencies, 99) * 1000,
        unit="ms",
    )


if __name__ == "__main__":
    main()
