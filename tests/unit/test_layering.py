"""The house rules of imports, read from the source (``ast``), not from a running process.

The manager only wires services; services compose repository calls. Neither imports
SQLAlchemy or the table classes: that is the ``db`` package's business.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "virtumancer"
FORBIDDEN = ("sqlalchemy", "virtumancer.db.schema", "libvirt", "lxml")


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            modules.add(node.module)
            # ``from virtumancer.db import schema`` imports a module too
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _checked_files() -> list[Path]:
    return [SRC / "manager.py", *sorted((SRC / "services").glob("*.py"))]


@pytest.mark.parametrize("path", _checked_files(), ids=lambda p: p.name)
def test_manager_and_services_import_no_sqlalchemy_and_no_tables(path: Path) -> None:
    bad = sorted(
        module
        for module in _imported_modules(path)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)
    )
    assert bad == [], f"{path.name} imports {bad}"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from sqlalchemy.orm import Session\nfrom virtumancer.db import schema\nimport lxml\n"
    )
    assert {"sqlalchemy.orm", "virtumancer.db.schema", "lxml"} <= _imported_modules(sample)


def test_no_repositories_module_is_left() -> None:
    assert not (SRC / "db" / "repositories.py").exists()


def test_modules_take_their_logger_from_the_library() -> None:
    # virtumancer._logging attaches the NullHandler a library adds; a module that called
    # logging.getLogger itself could log before anything attached it.
    direct = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "_logging.py" and "logging.getLogger(" in path.read_text()
    )
    assert direct == []


def test_the_library_logger_has_a_null_handler() -> None:
    import logging

    from virtumancer._logging import get_logger

    assert get_logger("virtumancer.pool").name == "virtumancer.pool"
    handlers = logging.getLogger("virtumancer").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)
