"""Storage pool and volume XML."""

from __future__ import annotations

from virtumancer._xml._parser import child_text, expect_root, parse_xml, scaled
from virtumancer.models.storage import StoragePool, StorageVolume

__all__ = ["parse_storage_pool", "parse_storage_volume"]


def parse_storage_pool(xml: bytes | str) -> StoragePool:
    """Parse ``virStoragePool.XMLDesc()``; state/autostart/persistent stay ``None``."""
    root = parse_xml(xml)
    expect_root(root, "pool")
    target = root.find("target")
    return StoragePool(
        uuid=(child_text(root, "uuid") or "").strip(),
        name=child_text(root, "name") or "",
        type=root.get("type") or "",
        target_path=None if target is None else child_text(target, "path"),
        capacity_bytes=scaled(root.find("capacity"), "bytes"),
        allocation_bytes=scaled(root.find("allocation"), "bytes"),
        available_bytes=scaled(root.find("available"), "bytes"),
    )


def parse_storage_volume(xml: bytes | str, *, pool_name: str | None = None) -> StorageVolume:
    """Parse ``virStorageVol.XMLDesc()``; the pool's name is not in it, so pass it."""
    root = parse_xml(xml)
    expect_root(root, "volume")
    target = root.find("target")
    path = volume_format = None
    if target is not None:
        path = child_text(target, "path")
        format_element = target.find("format")
        if format_element is not None:
            volume_format = format_element.get("type")
    return StorageVolume(
        key=child_text(root, "key"),
        name=child_text(root, "name") or "",
        path=path,
        type=root.get("type"),
        format=volume_format,
        capacity_bytes=scaled(root.find("capacity"), "bytes"),
        allocation_bytes=scaled(root.find("allocation"), "bytes"),
        pool_name=pool_name,
    )
