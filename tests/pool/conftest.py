"""Fixtures of the pool tests: every test here talks to a real libvirt daemon.

``private_libvirtd`` starts a libvirtd of our own (session mode, as the unprivileged user
``nobody``, with its own runtime directory) so a test can kill and restart *it* without
touching the system daemon other tests use. It serves libvirt's test driver at
``test+unix:///default?socket=<its socket>``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtumancer.testing import virsh

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.libvirt)


class PrivateLibvirtd:
    """A session-mode libvirtd run as ``nobody`` in a directory of its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket_dir = directory / "run" / "libvirt"
        self.socket = self.socket_dir / "libvirt-sock"
        self.uri = f"test+unix:///default?socket={self.socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the daemon and wait until it answers."""
        assert self._process is None
        self.socket.unlink(missing_ok=True)
        base = str(self.directory)
        env = {
            "HOME": base,
            "XDG_RUNTIME_DIR": f"{base}/run",
            "XDG_CONFIG_HOME": f"{base}/config",
            "XDG_CACHE_HOME": f"{base}/cache",
            "XDG_DATA_HOME": f"{base}/data",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        with (self.directory / "libvirtd.log").open("ab") as log:
            self._process = subprocess.Popen(
                ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "libvirtd"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=base,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.socket.exists() and virsh(self.uri, "version", check=False, timeout=10):
                return
            if self._process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.directory / "libvirtd.log").read_text(errors="replace")
                raise RuntimeError(f"private libvirtd did not start:\n{log_text[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """Kill the daemon with SIGKILL (no goodbye to clients) and reap it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)

    def pause(self) -> None:
        """Freeze the daemon (SIGSTOP): its sockets stay open but nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def unpause(self) -> None:
        """Let a frozen daemon run again (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def virsh(self, *args: str) -> str:
        """Run virsh against this daemon."""
        return virsh(self.uri, *args)


@pytest.fixture
def private_libvirtd() -> Iterator[PrivateLibvirtd]:
    """Start a private libvirtd (test driver) that a test may kill and restart."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a daemon as an unprivileged user")
    directory = Path(tempfile.mkdtemp(prefix="vmt-libvirtd-"))
    directory.chmod(0o755)
    shutil.chown(directory, user="nobody", group="nogroup")
    daemon = PrivateLibvirtd(directory)
    daemon.start()
    try:
        yield daemon
    finally:
        with contextlib.suppress(AssertionError, ProcessLookupError):
            daemon.unpause()
        daemon.kill()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Listen on a loopback port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()
