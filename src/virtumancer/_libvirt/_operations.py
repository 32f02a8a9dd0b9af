"""The base of the operation mixins that make up :class:`~.connection.LibvirtConnection`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["ConnectionOperations"]

T = TypeVar("T")


class ConnectionOperations:
    """What each mixin (lifecycle, devices, snapshots, clone, storage) uses of the connection.

    Declared for the type checker only: ``LibvirtConnection`` defines them, and it inherits
    every mixin, so they exist at run time.
    """

    if TYPE_CHECKING:
        host_id: str

        def call(self, fn: Callable[[Any], T], *, vm_name: str | None = None) -> T: ...

        def _lookup(self, key: str) -> Any: ...
