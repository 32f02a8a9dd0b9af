"""Every example in examples/ runs, against libvirt's test driver, and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_example_is_tested() -> None:
    tested = {"list_domains.py", "watch_events.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_list_domains_prints_the_test_drivers_domain() -> None:
    out = run_example("list_domains.py", "test:///default")
    assert out.split()[:2] == ["test", "RUNNING"]


@pytest.mark.libvirt
def test_list_domains_through_the_daemon(libvirtd: str) -> None:
    out = run_example("list_domains.py", "test+unix:///default")
    assert "test" in out


def test_watch_events_sees_suspend_and_resume() -> None:
    out = run_example("watch_events.py", "test:///default")
    assert out.splitlines() == ["test: suspended", "test: resumed"]
