"""Lazy public names for a package (PEP 562), so importing it costs only what is used.

A package lists where each public name lives, once, in a table ``{module: (name, ...)}``; the
first ``package.Name`` imports that module and keeps the value in the package's namespace, so
later lookups are plain attribute reads. ``__all__`` is derived from the table (plus the
``__all__`` of the packages it re-exports whole), never written out again.

Type checkers cannot read the table, so the package also imports each name under
``if TYPE_CHECKING:`` in the re-export form ``from module import Name as Name`` (a misspelt
name is then an error, and strict mypy sees it as exported); ``tests/unit/test_public_api.py``
checks that those imports and the table agree, and that each name in the table is in its
module's ``__all__``. The table is not derived from those ``__all__`` lists (that would import
every module at package import), nor they from it (a module's ``__all__`` also names the
helpers its sibling modules import, which the package does not publish). The hooks are bound under
``if not TYPE_CHECKING:`` so the checker never sees a module ``__getattr__`` that would
accept anything.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str,
    locations: Mapping[str, Iterable[str]],
    *,
    reexport: Iterable[str] = (),
    eager: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for ``package`` from ``{module: (name, ...)}``.

    ``reexport`` names packages whose whole ``__all__`` this one offers too (looked up in
    them on first use); ``eager`` names the package's own public names defined in place.
    """
    where = {name: module for module, names in locations.items() for name in names}
    for other in reexport:
        for name in importlib.import_module(other).__all__:
            where.setdefault(name, other)

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return getattr_, dir_, sorted({*where, *eager})
