"""Explicit conversions from rows to the records the services return."""

from __future__ import annotations

import datetime as dt

from virtumancer.db.schema import (
    ActivityRow,
    DiscoveredVmRow,
    DiskAttachmentRow,
    HostRow,
    HostVideoDeviceRow,
    NetworkRow,
    PortAttachmentRow,
    PortRow,
    StoragePoolRow,
    StorageVolumeRow,
    VideoAttachmentRow,
    VideoModelRow,
    VmRow,
)
from virtumancer.models.records import (
    ActivityEvent,
    DiscoveredVm,
    DiskAttachmentRecord,
    GraphicsFlags,
    HostPortRecord,
    HostRecord,
    HostVideoDeviceRecord,
    NetworkRecord,
    PortAttachmentRecord,
    PortRecord,
    StoragePoolRecord,
    StorageVolumeRecord,
    VideoAttachmentRecord,
    VideoModelRecord,
    VmRecord,
)

__all__ = [
    "activity_record",
    "aware",
    "discovered_record",
    "disk_attachment_record",
    "host_port_record",
    "host_record",
    "host_video_device_record",
    "naive_utc",
    "network_record",
    "port_attachment_record",
    "port_record",
    "storage_pool_record",
    "storage_volume_record",
    "video_attachment_record",
    "video_model_record",
    "vm_record",
    "volume_id",
]


def aware(value: dt.datetime) -> dt.datetime:
    """Return a stored (naive UTC) timestamp as an aware UTC datetime."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as the naive UTC datetime the database stores."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def host_record(row: HostRow) -> HostRecord:
    """Convert a host row."""
    return HostRecord(
        id=row.id,
        uri=row.uri,
        state=row.state,
        auto_reconnect_disabled=row.auto_reconnect_disabled,
        created_at=aware(row.created_at),
        last_error=row.last_error,
    )


def vm_record(row: VmRow) -> VmRecord:
    """Convert a managed VM row."""
    return VmRecord(
        db_id=row.id,
        name=row.name,
        description=row.description,
        vcpu_count=row.vcpu_count,
        memory_bytes=row.memory_bytes,
        state=row.state,
        graphics=GraphicsFlags(vnc=row.graphics_vnc, spice=row.graphics_spice),
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        host_id=row.host_id,
        uuid=row.uuid,
        gone_at=aware(row.gone_at) if row.gone_at is not None else None,
    )


def discovered_record(row: DiscoveredVmRow) -> DiscoveredVm:
    """Convert a discovered VM row."""
    return DiscoveredVm(
        domain_uuid=row.domain_uuid,
        name=row.name,
        host_id=row.host_id,
        last_seen_at=aware(row.last_seen_at),
        imported=row.imported,
    )


def storage_pool_record(row: StoragePoolRow) -> StoragePoolRecord:
    """Convert a storage pool row; its ``id`` is the libvirt pool UUID."""
    return StoragePoolRecord(
        id=row.uuid,
        host_id=row.host_id,
        name=row.name,
        type=row.type,
        path=row.path,
        capacity_bytes=row.capacity_bytes,
        allocation_bytes=row.allocation_bytes,
        available_bytes=row.available_bytes,
        state=row.state,
    )


def volume_id(pool_uuid: str, row: StorageVolumeRow) -> str:
    """Return a volume's stable id: its libvirt key, else ``pool-uuid/name``."""
    return row.key or f"{pool_uuid}/{row.name}"


def storage_volume_record(row: StorageVolumeRow, pool: StoragePoolRow) -> StorageVolumeRecord:
    """Convert a storage volume row."""
    return StorageVolumeRecord(
        id=volume_id(pool.uuid, row),
        storage_pool_id=pool.uuid,
        name=row.name,
        type=row.type,
        format=row.format,
        capacity_bytes=row.capacity_bytes,
        allocation_bytes=row.allocation_bytes,
        path=row.path,
        host_id=pool.host_id,
    )


def disk_attachment_record(row: DiskAttachmentRow, vm: VmRow) -> DiskAttachmentRecord:
    """Convert a disk attachment row; ``disk_id`` is the disk's source path (or volume)."""
    return DiskAttachmentRecord(
        id=str(row.id),
        vm_uuid=vm.uuid,
        disk_id=row.path or f"{vm.uuid}/{row.device_name}",
        device_name=row.device_name,
        bus_type=row.bus_type,
        size_bytes=row.size_bytes,
        path=row.path,
        host_id=vm.host_id,
    )


def network_record(row: NetworkRow) -> NetworkRecord:
    """Convert a network row; its ``id`` is the libvirt network UUID."""
    return NetworkRecord(
        id=row.uuid,
        host_id=row.host_id,
        name=row.name,
        uuid=row.uuid,
        bridge_name=row.bridge_name,
        mode=row.mode,
    )


def port_record(row: PortRow) -> PortRecord:
    """Convert a port row."""
    return PortRecord(
        id=str(row.id), mac_address=row.mac_address, model_name=row.model_name, host_id=row.host_id
    )


def port_attachment_record(row: PortAttachmentRow, vm: VmRow) -> PortAttachmentRecord:
    """Convert a port attachment row."""
    return PortAttachmentRecord(
        id=str(row.id), vm_uuid=vm.uuid, port_id=str(row.port_id), device_name=row.device_name
    )


def host_port_record(row: PortAttachmentRow, vm: VmRow, port: PortRow) -> HostPortRecord:
    """Convert a port attachment row with its port."""
    return HostPortRecord(
        id=str(row.id),
        vm_uuid=vm.uuid,
        port_id=str(port.id),
        device_name=row.device_name,
        mac_address=port.mac_address,
    )


def video_model_record(row: VideoModelRow) -> VideoModelRecord:
    """Convert a video model row (``vram`` in KiB, as libvirt writes it)."""
    return VideoModelRecord(
        id=row.id, model_name=row.model_name, vram=row.vram, heads=row.heads, accel_3d=row.accel_3d
    )


def host_video_device_record(row: HostVideoDeviceRow) -> HostVideoDeviceRecord:
    """Convert a host GPU row; ``uuid`` is the node device name."""
    return HostVideoDeviceRecord(
        id=row.id,
        host_device_id=row.id,
        vendor=row.vendor,
        model_name=row.model_name,
        uuid=row.name,
        host_id=row.host_id,
    )


def video_attachment_record(row: VideoAttachmentRow, vm: VmRow) -> VideoAttachmentRecord:
    """Convert a video attachment row."""
    return VideoAttachmentRecord(
        id=row.id,
        vm_uuid=vm.uuid,
        video_model_id=row.video_model_id,
        monitor_index=row.monitor_index,
        primary=row.primary,
    )


def activity_record(row: ActivityRow) -> ActivityEvent:
    """Convert an activity row."""
    return ActivityEvent(
        id=row.id,
        timestamp=aware(row.timestamp),
        type=row.type,
        message=row.message,
        host_id=row.host_id,
        vm_name=row.vm_name,
        actor=row.actor,
    )
