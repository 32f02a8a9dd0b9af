"""A host that never answers fails within the open timeout without stalling other hosts."""

from __future__ import annotations

import anyio
import pytest

from tests.pool._support import state_of, test_pool
from virtumancer import ConnectionState, HostUnavailableError, OperationTimeoutError

pytestmark = pytest.mark.anyio


async def test_silent_host_times_out_while_a_healthy_host_keeps_answering(
    silent_port: int, test_unix_uri: str
) -> None:
    # The requirement is "fails within 10 s"; the pool's default open timeout is below that.
    async with test_pool(open_timeout=8.0) as pool:
        healthy = await pool.add_host("healthy", test_unix_uri)
        calls_during_hang = 0
        outcome: list[BaseException] = []

        async def add_silent() -> None:
            try:
                await pool.add_host("silent", f"qemu+tcp://127.0.0.1:{silent_port}/system")
            except HostUnavailableError as exc:
                outcome.append(exc)

        with anyio.fail_after(10.0):  # the bound, not a performance assertion
            async with anyio.create_task_group() as tg:
                tg.start_soon(add_silent)
                while not outcome:
                    await healthy.list_domains()
                    calls_during_hang += 1
                    await anyio.sleep(0.05)

        assert isinstance(outcome[0], OperationTimeoutError)
        assert outcome[0].host_id == "silent"
        assert calls_during_hang > 10
        assert healthy.state == ConnectionState.CONNECTED
        assert [h.host_id for h in pool.hosts()] == ["healthy"]


async def test_silent_host_holds_a_bounded_number_of_threads(silent_port: int) -> None:
    async with test_pool(open_timeout=1.0, max_hung_opens_per_host=1) as pool:
        host = await pool.add_host(
            "silent", f"qemu+tcp://127.0.0.1:{silent_port}/system", connect=False
        )
        assert host.state == ConnectionState.DISCONNECTED
        with pytest.raises(OperationTimeoutError, match="no answer"):
            await host.connect()
        assert host.last_error is not None
        # The first open still hangs in its thread: the next attempt fails at once instead
        # of piling up another thread.
        with pytest.raises(OperationTimeoutError, match="still unanswered"):
            await host.connect()
        assert state_of(host) in {ConnectionState.ERROR, ConnectionState.CONNECTING}
        await host.disconnect()  # stops the background retries
        assert state_of(host) == ConnectionState.DISCONNECTED
