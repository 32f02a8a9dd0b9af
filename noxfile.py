"""Developer sessions: `nox -s tests` runs the whole suite against the real hypervisor.

Plain `nox` runs only the fast sessions, which need neither root nor a hypervisor: the pure
unit tests, lint and mypy. The unit tests and mypy run on each supported Python found here
(`nox -s unit` runs `unit-3.11`, `unit-3.12`, `unit-3.13`; missing interpreters are skipped).

`scripts/provision-libvirt` (run by `scripts/dev test`) must have installed and started
libvirtd, QEMU, the loopback sshd, PostgreSQL and Chromium before `nox -s tests`.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["unit", "lint", "mypy"]
# A contributor rarely has every supported Python; the sessions of those missing are skipped.
nox.options.error_on_missing_interpreters = False

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = "3.11"
#: Every Python the package supports (`requires-python`); the unit tests and mypy run on each.
PYTHONS = ["3.11", "3.12", "3.13"]


def _install(session: nox.Session, *groups: str) -> None:
    requirements: list[str] = []
    for group in groups:
        requirements.extend(nox.project.dependency_groups(PYPROJECT, group))
    session.install("-e", ".", *requirements)


def tests_impl(session: nox.Session, *pytest_args: str) -> None:
    """Install the package and its test group, then run pytest (shared by the test sessions)."""
    _install(session, "test")
    session.run("pytest", *pytest_args, *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (pure, real daemon, KVM guests, ssh, PostgreSQL, browser)."""
    tests_impl(session, *([] if session.posargs else ["tests"]))


@nox.session(python=PYTHONS)
def unit(session: nox.Session) -> None:
    """Run only the fast pure tests (no I/O, no root)."""
    tests_impl(session, "-m", "unit")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHONS)
def mypy(session: nox.Session) -> None:
    """Type-check src, tests, benchmarks, examples and this file with mypy --strict."""
    _install(session, "typing", "test", "bench")
    session.run("mypy", "--python-version", str(session.python))


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
    """Run the examples (scripts and the notebook) against libvirt's test driver."""
    _install(session, "test")
    session.run("pytest", "tests/test_examples.py", "tests/test_notebook.py", *session.posargs)


@nox.session(python=PYTHON)
def ansible(session: nox.Session) -> None:
    """Run real playbooks of the virtumancer.libvirt collection against the real libvirtd.

    These tests are also part of `nox -s tests`. `nox -s ansible -- --sanity` runs
    `ansible-test sanity` on the collection instead (it downloads its own tools).
    """
    _install(session, "test")
    if "--sanity" in session.posargs:
        with session.chdir(ROOT / "ansible_collections" / "virtumancer" / "libvirt"):
            session.run("ansible-test", "sanity", "--local", "--python", PYTHON)
        return
    session.run("pytest", "tests/ansible", *session.posargs)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build the sdist and the wheel into dist/; `tests/test_install.py` installs the wheel."""
    session.install("build")
    session.run("python", "-m", "build", "--outdir", "dist", ".")


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Run the service for a human: `virtumancer serve --demo` on http://127.0.0.1:8890."""
    _install(session)
    args = session.posargs or ["--demo"]
    session.run("virtumancer", "serve", *args, env={"PYTHONUNBUFFERED": "1", **os.environ})
