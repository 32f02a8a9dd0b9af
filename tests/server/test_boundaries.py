"""The server stays a thin layer: it imports only Virtumancer's public API."""

from __future__ import annotations

import ast
from pathlib import Path

import virtumancer_server

FORBIDDEN_ROOTS = {"libvirt", "libvirtaio", "lxml", "sqlalchemy", "alembic"}
# The SDK is used through its public names only: `from virtumancer import ...`.
SDK_SUBMODULE = "virtumancer."


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _is_public_name(module: str) -> bool:
    # `from virtumancer import X` is recorded as "virtumancer.X": fine when X is public.
    import virtumancer

    return module.count(".") == 1 and module.split(".")[1] in virtumancer.__all__


def test_server_never_imports_libvirt_lxml_or_sqlalchemy() -> None:
    package = Path(virtumancer_server.__file__).parent
    offenders = {}
    for path in package.rglob("*.py"):
        bad = {
            module
            for module in _imported_modules(path)
            if module.split(".")[0] in FORBIDDEN_ROOTS
            or (module.startswith(SDK_SUBMODULE) and not _is_public_name(module))
        }
        if bad:
            offenders[str(path.relative_to(package))] = sorted(bad)
    assert offenders == {}
