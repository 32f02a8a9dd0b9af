"""The whole service on PostgreSQL: the same code as on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from sqlalchemy import create_engine, text

from tests.server.conftest import wait_for
from virtumancer.manager import Virtumancer

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_import_and_quiet_reconciliation_on_postgresql(
    pg_database_url: str, test_node_factory: Callable[..., Path]
) -> None:
    node = test_node_factory(domains=50, pools=2, volumes_per_pool=5)
    async with Virtumancer(pg_database_url, reconcile_interval=3600) as vm:
        await vm.add_host("tdrv", f"test://{node}")
        await vm.import_all_vms("tdrv")
        await vm.import_all_vms("tdrv")
        assert len(await vm.list_vms("tdrv")) == 50
        assert len(await vm.list_storage_volumes()) == 10
        await vm.sync_host("tdrv")
        before = vm.database.rows_written
        await vm.sync_host("tdrv")
        assert vm.database.rows_written == before
        await vm.settle()
    async with Virtumancer(pg_database_url, reconcile_interval=3600) as vm:
        await vm.wait_restored()  # saved hosts connect in the background
        (host,) = await vm.list_hosts()
        assert host.state == "CONNECTED"
        assert len(await vm.list_vms("tdrv")) == 50


async def test_an_import_that_races_another_writer_for_a_video_model_retries(
    pg_database_url: str, test_node_factory: Callable[..., Path]
) -> None:
    # Video models are rows shared by every host: two replicas importing two hosts at once
    # both insert the first one. Here the other writer's insert is held uncommitted until
    # the import's own insert waits on it, then committed: the import must retry, not fail.
    node = test_node_factory(domains=3)
    engine = create_engine(pg_database_url)
    watcher = create_engine(pg_database_url, isolation_level="AUTOCOMMIT")
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO video_models%'"
    )
    try:
        async with Virtumancer(pg_database_url, reconcile_interval=3600) as vm:
            await vm.add_host("tdrv", f"test://{node}")
            with engine.connect() as other, watcher.connect() as watch:
                other.execute(
                    text(
                        "INSERT INTO video_models (model_name, vram, heads, accel_3d)"
                        " VALUES ('qxl', 65536, 1, false)"
                    )
                )
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(vm.import_all_vms, "tdrv")
                    # a deadline for a hang, not a timing check
                    await wait_for(lambda: watch.execute(waiting).scalar(), within=60)
                    other.commit()
            assert len(await vm.list_vms("tdrv")) == 3
            assert len(await vm.list_video_models()) == 1
            await vm.settle()
    finally:
        engine.dispose()
        watcher.dispose()
