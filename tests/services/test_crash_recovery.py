"""A process killed in the middle of an import leaves a database the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from virtumancer.db.schema import DiskAttachmentRow, VmRow
from virtumancer.manager import Virtumancer

pytestmark = pytest.mark.anyio

DOMAINS = 400

_IMPORTER = textwrap.dedent(
    """
    import sys
    import anyio
    import virtumancer.services.inventory as inventory
    from virtumancer.manager import Virtumancer

    inventory.IMPORT_BATCH = 10  # many small transactions: the kill lands between or inside

    async def main(url: str, uri: str) -> None:
        async with Virtumancer(url, reconcile_interval=3600) as vm:
            await vm.add_host("tdrv", uri)
            print("importing", flush=True)
            await vm.import_all_vms("tdrv")
            print("done", flush=True)
            await anyio.sleep(3600)

    anyio.run(main, sys.argv[1], sys.argv[2])
    """
)


def _count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            try:
                return int(conn.execute(text("SELECT count(*) FROM vms")).scalar() or 0)
            except Exception:  # the schema is not there yet
                return 0
    finally:
        engine.dispose()


def _import_then_kill(database_url: str, uri: str) -> None:
    """Run an import-all in a subprocess and SIGKILL it once the first rows are in."""
    process = subprocess.Popen(
        [sys.executable, "-c", _IMPORTER, database_url, uri],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdout is not None
    with process.stdout:
        try:
            assert process.stdout.readline().strip() == "importing"
            deadline = time.monotonic() + 60
            while _count(database_url) == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


async def test_kill_mid_import_then_restart_completes_without_duplicates(
    database_url: str, test_node_factory: Callable[..., Path]
) -> None:
    node = test_node_factory(domains=DOMAINS)
    uri = f"test://{node}"
    _import_then_kill(database_url, uri)
    killed_at = _count(database_url)
    assert killed_at > 0

    async with Virtumancer(database_url, reconcile_interval=3600) as vm:
        await vm.wait_restored()  # saved hosts connect in the background
        rows = await vm.database.run(
            lambda s: (
                s.scalar(select(func.count()).select_from(VmRow)),
                s.scalar(select(func.count(func.distinct(VmRow.uuid)))),
                s.scalar(select(func.count()).select_from(DiskAttachmentRow)),
            )
        )
        total, distinct, disks = rows
        assert total == distinct == disks  # every imported VM is whole, none twice
        await vm.import_all_vms("tdrv")
        vms = await vm.list_vms("tdrv")
        assert len(vms) == DOMAINS
        assert len({v.uuid for v in vms}) == DOMAINS
        assert await vm.list_discovered_vms("tdrv") == []
        assert len(await vm.list_disk_attachments()) == DOMAINS
        await vm.settle()
        domains = await vm.pool.get("tdrv").list_domains()
        assert all(d.metadata is not None for d in domains)
        imported = [a for a in await vm.recent_activity(1000) if a.type == "vm_imported"]
        assert len(imported) == DOMAINS
