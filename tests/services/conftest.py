"""Fixtures of the service tests: a Virtumancer on a fresh SQLite file, polling helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from virtumancer.manager import Virtumancer

T = TypeVar("T")

_KVM_FIXTURES = {"kvm_guest", "kvm_guest_factory"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/services/" not in str(item.path) or item.path.name == "test_notifications.py":
            continue
        item.add_marker(pytest.mark.libvirt)
        if _KVM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kvm)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite file of this test."""
    return f"sqlite:///{tmp_path / 'virtumancer.db'}"


@pytest.fixture
async def manager(database_url: str) -> AsyncIterator[Virtumancer]:
    """An open Virtumancer with no hosts (reconciliation left to the tests)."""
    async with Virtumancer(database_url, reconcile_interval=3600) as vm:
        yield vm


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float = 30.0, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy (events arrive asynchronously)."""
    with anyio.move_on_after(within):
        while True:
            result = await check()
            if result:
                return result
            await anyio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {within} s")
