"""Storage pools and volumes."""

from __future__ import annotations

import attrs

from virtumancer.models._display import Displayed

__all__ = ["StoragePool", "StorageVolume"]


@attrs.frozen(kw_only=True, repr=False)
class StoragePool(Displayed):
    """A storage pool.

    ``state`` is a lower-case word (``"running"``, ``"inactive"``, ``"building"``,
    ``"degraded"``, ``"inaccessible"``); it, ``autostart`` and ``persistent`` are not in the
    XML and are filled by the pool. Sizes are exact bytes.
    """

    uuid: str
    name: str
    type: str
    target_path: str | None = None
    state: str | None = None
    capacity_bytes: int | None = None
    allocation_bytes: int | None = None
    available_bytes: int | None = None
    autostart: bool | None = None
    persistent: bool | None = None


@attrs.frozen(kw_only=True, repr=False)
class StorageVolume(Displayed):
    """A volume in a storage pool. Sizes are exact bytes."""

    key: str | None = None
    name: str
    path: str | None = None
    type: str | None = None
    format: str | None = None
    capacity_bytes: int | None = None
    allocation_bytes: int | None = None
    pool_name: str | None = None
