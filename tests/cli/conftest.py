"""Fixtures of the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli._support import Run, cli_runner


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run the CLI with no URI in the environment and a config file of its own."""
    return cli_runner(tmp_path)
