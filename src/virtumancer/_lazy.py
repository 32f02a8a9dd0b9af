"""Lazy public names for a package (PEP 562), so importing it costs only what is used.

A package lists where each public name lives; the first ``package.Name`` imports that module
and keeps the value in the package's namespace, so later lookups are plain attribute reads.
Callers define the hooks under ``if not TYPE_CHECKING:`` and import the same names under
``if TYPE_CHECKING:``: type checkers then see real imports (and flag a misspelt name) rather
than a module ``__getattr__`` that would accept anything.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, locations: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package`` from ``{module: (name, ...)}``."""
    where = {name: module for module, names in locations.items() for name in names}

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return getattr_, dir_
