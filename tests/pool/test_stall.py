"""A stalled transport with calls in flight: the process survives, callers are released, the
host comes back. And silent hosts cannot pile up threads in ``virConnectOpen``.

The stall runs in a process of its own (``_stall_scenario.py``): before the fix it ended in a
segfault inside libvirt, which must fail a test, not kill the test runner. Its call timeout is
far above the keepalive (600 s vs about 3 s), so a caller released by anything but the loss
of the connection would hang the scenario into the subprocess timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from tests.pool._support import PATIENCE_S, test_pool
from virtumancer import ConnectionState, HostUnavailableError, OperationTimeoutError
from virtumancer._libvirt import LibvirtConnection, connections_share_state

REPO = Path(__file__).parents[2]


def _run_stall(*, freeze: float, calls: int, node: str = "default") -> dict[str, object]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.pool._stall_scenario",
            f"--freeze={freeze}",
            f"--calls={calls}",
            f"--node={node}",
            "--keepalive-interval=1",
            "--keepalive-count=2",
            "--call-timeout=600",
            "--linger=2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # -11: the segfault
    found: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize(
    ("calls", "node"),
    [(2, "default"), (4, "default"), (3, "file")],
    ids=["2-calls-2-connections", "4-calls-4-connections", "3-calls-queued-on-1-connection"],
)
def test_stall_longer_than_keepalive_releases_callers_and_the_host_comes_back(
    calls: int, node: str
) -> None:
    found = _run_stall(freeze=5, calls=calls, node=node)
    assert found["before"] == "CONNECTED"
    # Released by the keepalive's verdict, not by the call timeout.
    assert found["outcomes"] == ["ConnectionLostError"] * calls
    assert found["after"] == "CONNECTED"
    assert found["answer"] is True
    assert found["answer_later"] is True  # old threads woke up meanwhile: still alive


def test_stall_shorter_than_keepalive_is_only_a_delay() -> None:
    found = _run_stall(freeze=1, calls=2)
    assert found["outcomes"] == ["ok", "ok"]
    assert found["after"] == "CONNECTED"
    assert found["answer_later"] is True


@pytest.mark.anyio
async def test_a_retired_connection_takes_no_calls_and_its_last_call_closes_it(
    test_unix_uri: str,
) -> None:
    conn = await anyio.to_thread.run_sync(
        lambda: LibvirtConnection.open(
            test_unix_uri,
            host_id="t1",
            keepalive_interval=5,
            keepalive_count=3,
            on_event=None,
            on_close=lambda _reason: None,
        )
    )
    inside, release = threading.Event(), threading.Event()

    def slow(raw: object) -> int:
        inside.set()
        release.wait(PATIENCE_S)
        return 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, lambda: conn.call(slow))
        await anyio.to_thread.run_sync(inside.wait, PATIENCE_S)
        conn.retire()
        with pytest.raises(HostUnavailableError, match="closed"):
            conn.call(lambda raw: raw.getHostname())
        assert not conn.closed  # a thread is still inside libvirt: not freed under it
        release.set()
    # The last call out closes it, in a thread of its own.
    assert await anyio.to_thread.run_sync(conn.wait_closed, PATIENCE_S)


@pytest.mark.anyio
async def test_opens_to_silent_hosts_hold_a_bounded_number_of_threads(
    silent_port: int, test_unix_uri: str
) -> None:
    limit = 3
    async with test_pool(open_timeout=0.3, max_concurrent_opens=limit) as pool:
        before = threading.active_count()
        failures: list[HostUnavailableError] = []
        for index in range(12):  # twelve different hosts, all silent
            with pytest.raises(HostUnavailableError) as caught:
                await pool.add_host(f"silent{index}", f"qemu+tcp://127.0.0.1:{silent_port}/system")
            failures.append(caught.value)
        opens = [t for t in threading.enumerate() if t.name.startswith("virtumancer-open-")]
        assert len(opens) <= limit
        assert threading.active_count() - before <= limit
        assert all(isinstance(exc, OperationTimeoutError) for exc in failures)
        assert "max_concurrent_opens" in failures[-1].message
        assert pool.hosts() == []
    # A healthy host still gets a slot once the silent ones are gone (the fixture ends them
    # only afterwards, so here: a fresh pool).
    async with test_pool() as pool:
        host = await pool.add_host("healthy", test_unix_uri)
        assert host.state is ConnectionState.CONNECTED


@pytest.mark.parametrize(
    ("uri", "shared"),
    [
        ("qemu+ssh://root@h/system", True),
        ("qemu:///system", True),
        ("test:///default", True),
        ("test+unix:///default?socket=/run/x.sock", True),
        ("test:///srv/node.xml", False),
        ("test+unix:///srv/node.xml", False),
    ],
)
def test_only_test_driver_node_files_keep_state_per_connection(uri: str, shared: bool) -> None:
    assert connections_share_state(uri) is shared
