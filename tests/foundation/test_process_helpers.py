"""``wait_until_healthy`` and ``stop_process``: how tests, benchmarks and attacks run servers."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from virtumancer.testing import free_port, stop_process, wait_until_healthy


def test_a_server_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stderr.write('port in use'); sys.exit(3)"],
            stderr=sink,
        )
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match=r"exited \(3\):\n.*port in use"):
        wait_until_healthy(url, process=process, log=log)


def test_nothing_listening_times_out() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match=r"no answer from .*/api/v1/health within 0\.3 s"):
        wait_until_healthy(url, within=0.3)


def test_stop_process_terminates_and_kills_what_lingers() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stop_process(polite) == -signal.SIGTERM
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"ready\n"  # SIGTERM is ignored from here on
    assert stop_process(stubborn, grace=0.5) == -signal.SIGKILL
    stubborn.stdout.close()
