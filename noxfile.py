"""Developer sessions: `nox -s tests` runs the whole suite against the real hypervisor.

`scripts/provision-libvirt` (run by `scripts/dev test`) must have installed and started
libvirtd, QEMU, the loopback sshd, PostgreSQL and Chromium first.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "mypy"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = "3.11"


def _install(session: nox.Session, *groups: str) -> None:
    requirements: list[str] = []
    for group in groups:
        requirements.extend(nox.project.dependency_groups(PYPROJECT, group))
    session.install("-e", ".", *requirements)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (pure, real daemon, KVM guests, ssh, PostgreSQL, browser)."""
    _install(session, "test")
    session.run("pytest", *(session.posargs or ["tests"]))


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    """Run only the fast pure tests (no I/O)."""
    _install(session, "test")
    session.run("pytest", "-m", "unit", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def mypy(session: nox.Session) -> None:
    """Type-check src, tests, benchmarks, examples and this file with mypy --strict."""
    _install(session, "typing", "test", "bench")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks; each prints its figures and ratios against a same-run baseline."""
    _install(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def attack(session: nox.Session) -> None:
    """Run the hostile suite against live servers; print attack -> held (exit 1 if one fails)."""
    _install(session, "test")
    session.run("python", "-m", "attack", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation with Sphinx (warnings are errors)."""
    _install(session, "docs")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHON)
def examples(session: nox.Session) -> None:
    """Run the examples against libvirt's test driver."""
    _install(session, "test")
    session.run("pytest", "tests/test_examples.py", *session.posargs)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Run the service for a human: `virtumancer serve --demo` on http://127.0.0.1:8890."""
    _install(session)
    args = session.posargs or ["--demo"]
    session.run("virtumancer", "serve", *args, env={"PYTHONUNBUFFERED": "1", **os.environ})
