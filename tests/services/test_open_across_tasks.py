"""Open in one task, close in another: what a notebook does with one cell per task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from tests.conftest import NodeFactory
from virtumancer.exceptions import ConflictError
from virtumancer.manager import Virtumancer
from virtumancer.pool import ConnectionPool

pytestmark = pytest.mark.anyio


async def _cell(body: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    # ipykernel runs each cell's top-level await in a task of its own.
    return await asyncio.create_task(body())


async def test_the_manager_opens_in_one_cell_and_closes_in_another(
    database_url: str, test_node_factory: NodeFactory
) -> None:
    vm = Virtumancer(database_url)
    await _cell(vm.open)
    record = await _cell(lambda: vm.add_host("t", f"test://{test_node_factory(domains=2)}"))
    assert record.state == "CONNECTED"
    hosts = await _cell(vm.list_hosts)
    assert [host.id for host in hosts] == ["t"]
    await _cell(vm.aclose)
    assert repr(vm).startswith("<Virtumancer closed")
    # Closed for good: it can be opened again, in yet another cell.
    await _cell(vm.open)
    await _cell(vm.aclose)


async def test_the_pool_opens_in_one_cell_and_closes_in_another(
    test_node_factory: NodeFactory,
) -> None:
    pool = ConnectionPool()
    await _cell(pool.open)
    host = await _cell(lambda: pool.add_host("t", f"test://{test_node_factory(domains=2)}"))
    domains = await _cell(host.list_domains)
    assert len(domains) == 2
    await _cell(pool.aclose)
    assert repr(pool).startswith("<ConnectionPool hosts: 0")


async def test_opening_an_open_manager_twice_is_a_conflict(database_url: str) -> None:
    vm = Virtumancer(database_url)
    await _cell(vm.open)
    try:
        with pytest.raises(ConflictError):
            await _cell(vm.open)
    finally:
        await _cell(vm.aclose)
