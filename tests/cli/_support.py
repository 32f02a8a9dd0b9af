"""What the CLI tests share: how to run the console script, and the shared test node."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

CLI = [sys.executable, "-m", "virtumancer_server.cli"]
#: libvirtd's default test node: shared by every connection while one stays open.
DEFAULT_UNIX = "test+unix:///default"

Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_runner(config_dir: Path) -> Run:
    """Return ``run(*args, env=..., input=...)``: the CLI in a new process, as a script runs it.

    No URI comes from the environment, the config file is one of its own, and standard
    input is never a terminal (``input`` is what it reads, else nothing).
    """

    def run_cli(
        *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, "VIRTUMANCER_CONFIG": str(config_dir / "config.toml")}
        for name in ("VIRTUMANCER_URI", "LIBVIRT_DEFAULT_URI"):
            environ.pop(name, None)
        environ.update(env or {})
        return subprocess.run(
            [*CLI, *args],
            capture_output=True,
            text=True,
            env=environ,
            input=input if input is not None else "",
            timeout=120,
            check=False,
        )

    return run_cli
