"""The blocking facade, from a plain thread and from inside a running event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import virtumancer
from virtumancer import ConflictError, DomainState, NotFoundError, UriPolicyError


def _exercise(uri: str) -> list[str]:
    with virtumancer.connect(uri) as host:
        domains = host.domains()
        running = next(d for d in domains if d.state is DomainState.RUNNING)
        host.suspend(running.name)
        assert host.domain(running.uuid).state is DomainState.PAUSED
        try:
            host.suspend(running.name)
        except ConflictError:
            pass
        else:
            raise AssertionError("suspending a paused domain must be a conflict")
        host.resume(running.name)
        assert host.domain(running.name).state is DomainState.RUNNING
        assert len(host.stats()) == len(domains)
        assert host.storage_pools()
        assert host.networks()
        assert host.info().hypervisor_type == "TEST"
        try:
            host.domain("no-such-domain")
        except NotFoundError:
            pass
        else:
            raise AssertionError("expected NotFoundError")
        return sorted(d.name for d in domains)


def test_sync_facade_from_a_plain_thread(test_unix_uri: str) -> None:
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(_exercise(test_unix_uri)))
    thread.start()
    thread.join(timeout=120)
    assert len(results) == 1
    assert len(results[0]) == 10  # type: ignore[arg-type]


def test_sync_facade_inside_a_running_loop(test_uri: str) -> None:
    # What a Jupyter cell does: blocking code while the kernel's loop is running.
    async def cell() -> list[str]:
        return _exercise(test_uri)

    assert len(asyncio.run(cell())) == 10


def test_sync_facade_refuses_hostile_uris_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(UriPolicyError, match="ext"):
        virtumancer.connect("ext:///x?command=/bin/sh")


def test_sync_facade_is_closed_after_the_block(test_uri: str) -> None:
    with virtumancer.connect(test_uri) as host:
        assert host.state.value == "CONNECTED"
    with pytest.raises(ConflictError):
        host.domains()


def test_event_driven_calls_take_the_direct_connection_over() -> None:
    # test:///default keeps its state per connection: what the direct path changed must
    # still be so once wait_for_state has started the pool (it adopts the same connection).
    with virtumancer.connect("test:///default") as host:
        host.destroy("test")
        assert host.domain("test").state is DomainState.SHUTOFF
        host.power("test", "start", wait=True)
        assert host.wait_for_state("test", "running").state is DomainState.RUNNING
        host.suspend("test")  # through the pool now
        assert host.domain("test").state is DomainState.PAUSED
        assert host.state.value == "CONNECTED"
    assert host.state.value == "DISCONNECTED"


def test_unknown_power_action_is_invalid_input_without_a_pool() -> None:
    with virtumancer.connect("test:///default") as host:
        with pytest.raises(virtumancer.InvalidInputError) as caught:
            host.power("test", "explode")
        assert caught.value.field == "action"


def test_a_one_shot_facade_without_events_works_but_refuses_to_wait(test_unix_uri: str) -> None:
    with virtumancer.connect(test_unix_uri, events=False) as host:
        assert sorted(d.name for d in host.domains()) == [f"guest-{i:04d}" for i in range(10)]
        host.suspend("guest-0000")
        assert host.domain("guest-0000").state is DomainState.PAUSED
        # Nothing would ever wake a wait: refused at once, before the action is applied.
        with pytest.raises(ConflictError, match="events"):
            host.power("guest-0000", "resume", wait=True)
        assert host.domain("guest-0000").state is DomainState.PAUSED
        with pytest.raises(ConflictError, match="events"):
            host.wait_for_state("guest-0000", DomainState.PAUSED)
