"""The public API: every advertised name resolves, lazily, to the object its module defines."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
from pathlib import Path
from types import ModuleType

import pytest

import virtumancer
import virtumancer.models

PACKAGE_DIR = Path(virtumancer.__file__).parent


@pytest.mark.parametrize("package", [virtumancer, virtumancer.models], ids=lambda m: m.__name__)
def test_every_name_in_all_resolves(package: ModuleType) -> None:
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []
    assert len(set(package.__all__)) == len(package.__all__)
    assert set(package.__all__) <= set(dir(package))


def test_a_lazy_name_is_the_object_its_module_defines() -> None:
    from virtumancer.models.domain import Domain
    from virtumancer.sync import connect

    assert virtumancer.connect is connect
    assert virtumancer.Domain is Domain
    assert virtumancer.models.Domain is Domain
    # After the first lookup the name is a plain attribute of the package.
    assert vars(virtumancer)["connect"] is connect


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        virtumancer.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError):
        from virtumancer import no_such_name  # type: ignore[attr-defined]  # noqa: F401


def test_version_matches_the_distribution() -> None:
    from virtumancer._version import __version__

    assert virtumancer.__version__ == __version__
    assert __version__ == importlib.metadata.version("virtumancer")


def _imports_package_root(path: Path) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "virtumancer" for a in node.names):
            return True
        # `from virtumancer import _lazy` names a submodule, not the package's API.
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module == "virtumancer"
            and any(not a.name.startswith("_") or a.name == "__version__" for a in node.names)
        ):
            return True
    return False


def test_nothing_inside_the_package_imports_its_root() -> None:
    # Importing the root from inside would defeat the lazy imports (and risks import cycles).
    offenders = [
        str(path.relative_to(PACKAGE_DIR))
        for path in PACKAGE_DIR.rglob("*.py")
        if path.name != "__init__.py" or path.parent != PACKAGE_DIR
        if _imports_package_root(path)
    ]
    assert offenders == []


def _lazy_declarations(path: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Return ``(imported under TYPE_CHECKING, listed in the _lazy table)`` of an __init__."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported: set[tuple[str, str]] = set()
    table: set[tuple[str, str]] = set()
    for node in tree.body:
        if not isinstance(node, ast.If):
            continue
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                assert stmt.module is not None
                for alias in stmt.names:
                    # `Name as Name`: strict mypy then sees it as exported.
                    assert alias.name == "*" or alias.asname == alias.name, alias.name
                    imported.add((stmt.module, alias.name))
        elif isinstance(node.test, ast.UnaryOp):  # if not TYPE_CHECKING: ... _lazy.attach(...)
            assign = node.body[0]
            assert isinstance(assign, ast.Assign)
            assert isinstance(assign.value, ast.Call)
            call = assign.value
            rows = call.args[1]
            assert isinstance(rows, ast.Dict)
            for key, names in zip(rows.keys, rows.values, strict=True):
                assert isinstance(key, ast.Constant)
                assert isinstance(names, ast.Tuple)
                table |= {(str(key.value), ast.literal_eval(name)) for name in names.elts}
            for keyword in call.keywords:
                if keyword.arg == "reexport":
                    table |= {(module, "*") for module in ast.literal_eval(keyword.value)}
    return imported, table


@pytest.mark.parametrize(
    "init", ["__init__.py", "models/__init__.py", "_xml/__init__.py"], ids=lambda p: p
)
def test_type_checking_imports_and_the_lazy_table_agree(init: str) -> None:
    # The table is what runs, the imports are what mypy reads: a name must be in both.
    imported, table = _lazy_declarations(PACKAGE_DIR / init)
    assert table
    assert sorted(imported ^ table) == []


def test_all_is_the_table_plus_what_is_reexported() -> None:
    import virtumancer._xml

    _, table = _lazy_declarations(PACKAGE_DIR / "__init__.py")
    own = {name for _, name in table if name != "*"}
    # Read from the namespace: virtumancer.models declares no `__all__` to mypy (its star
    # import into the root would then see an empty list instead of the exported names).
    models_all = vars(virtumancer.models)["__all__"]
    assert set(virtumancer.__all__) == own | set(models_all) | {"__version__"}
    assert "parse_domain" in virtumancer._xml.__all__


@pytest.mark.parametrize(
    "init", ["__init__.py", "models/__init__.py", "_xml/__init__.py"], ids=lambda p: p
)
def test_the_lazy_table_lists_only_names_its_modules_export(init: str) -> None:
    # The table is a chosen subset of each module's `__all__` (which also holds helpers its
    # sibling modules import), written out because deriving either from the other would mean
    # importing the modules at package import: the two copies are kept in step here.
    _, table = _lazy_declarations(PACKAGE_DIR / init)
    unexported = sorted(
        f"{module}.{name}"
        for module, name in table
        if name != "*" and name not in importlib.import_module(module).__all__
    )
    assert unexported == []
