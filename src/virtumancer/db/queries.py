"""Read queries behind the API: listings of VMs, storage, networks, ports, video, counters.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from virtumancer.db import convert, schema
from virtumancer.db.hosts import host_row
from virtumancer.exceptions import NotFoundError
from virtumancer.models import records
from virtumancer.models.domain import DomainState
from virtumancer.models.status import StatusCategory

__all__ = [
    "dashboard_stats",
    "discovered_uuids",
    "get_vm",
    "list_discovered",
    "list_disk_attachments",
    "list_host_ports",
    "list_host_video_devices",
    "list_networks",
    "list_port_attachments",
    "list_ports",
    "list_storage_pools",
    "list_storage_volumes",
    "list_video_attachments",
    "list_video_models",
    "list_vms",
    "managed_uuids",
    "unimportable_uuids",
    "volume_sizes",
]


def list_vms(session: Session, host_id: str) -> list[records.VmRecord]:
    """Return the managed VMs of a host, by name (:class:`NotFoundError` for a bad host)."""
    host_row(session, host_id)
    rows = session.scalars(
        select(schema.VmRow).where(schema.VmRow.host_id == host_id).order_by(schema.VmRow.name)
    )
    return [convert.vm_record(row) for row in rows]


def _vm_row(session: Session, host_id: str, vm_name: str) -> schema.VmRow:
    row = session.scalars(
        select(schema.VmRow)
        .where(schema.VmRow.host_id == host_id, schema.VmRow.name == vm_name)
        .order_by(schema.VmRow.gone_at.is_not(None), schema.VmRow.id)
    ).first()
    if row is None:
        host_row(session, host_id)
        raise NotFoundError(f"VM {vm_name!r} not found", host_id=host_id, vm_name=vm_name)
    return row


def get_vm(session: Session, host_id: str, vm_name: str) -> records.VmRecord:
    """Return one managed VM by name (:class:`NotFoundError`)."""
    return convert.vm_record(_vm_row(session, host_id, vm_name))


def managed_uuids(session: Session, host_id: str) -> set[str]:
    """Return the domain UUIDs of the managed VMs of a host."""
    return set(session.scalars(select(schema.VmRow.uuid).where(schema.VmRow.host_id == host_id)))


def list_discovered(session: Session, host_id: str) -> list[records.DiscoveredVm]:
    """Return the discovered VMs of a host not imported and not dismissed, by name."""
    host_row(session, host_id)
    rows = session.scalars(
        select(schema.DiscoveredVmRow)
        .where(
            schema.DiscoveredVmRow.host_id == host_id,
            schema.DiscoveredVmRow.imported.is_(False),
            schema.DiscoveredVmRow.dismissed.is_(False),
        )
        .order_by(schema.DiscoveredVmRow.name)
    )
    return [convert.discovered_record(row) for row in rows]


def discovered_uuids(session: Session, host_id: str) -> dict[str, str]:
    """Return ``{uuid: name}`` of the importable discovered VMs of a host."""
    return {vm.domain_uuid: vm.name for vm in list_discovered(session, host_id)}


def unimportable_uuids(session: Session, host_id: str) -> set[str]:
    """Return the UUIDs "import all" leaves alone: managed or dismissed domains."""
    host_row(session, host_id)
    managed = session.scalars(select(schema.VmRow.uuid).where(schema.VmRow.host_id == host_id))
    dismissed = session.scalars(
        select(schema.DiscoveredVmRow.domain_uuid).where(
            schema.DiscoveredVmRow.host_id == host_id, schema.DiscoveredVmRow.dismissed.is_(True)
        )
    )
    return set(managed) | set(dismissed)


def list_storage_pools(
    session: Session, host_id: str | None = None
) -> list[records.StoragePoolRecord]:
    """Return the storage pools of one host or of all hosts."""
    query = select(schema.StoragePoolRow).order_by(
        schema.StoragePoolRow.host_id, schema.StoragePoolRow.name
    )
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(schema.StoragePoolRow.host_id == host_id)
    return [convert.storage_pool_record(row) for row in session.scalars(query)]


def list_storage_volumes(
    session: Session, host_id: str | None = None
) -> list[records.StorageVolumeRecord]:
    """Return every volume of every pool of one host or of all hosts."""
    query = (
        select(schema.StorageVolumeRow, schema.StoragePoolRow)
        .join(schema.StoragePoolRow)
        .order_by(
            schema.StoragePoolRow.host_id, schema.StoragePoolRow.name, schema.StorageVolumeRow.name
        )
    )
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(schema.StoragePoolRow.host_id == host_id)
    return [convert.storage_volume_record(volume, pool) for volume, pool in session.execute(query)]


def volume_sizes(
    session: Session, host_id: str, paths: Collection[str] | None = None
) -> dict[str, int]:
    """Return the capacity of every pool volume of a host (or of those ``paths``) by path."""
    query = (
        select(schema.StorageVolumeRow.path, schema.StorageVolumeRow.capacity_bytes)
        .join(schema.StoragePoolRow)
        .where(schema.StoragePoolRow.host_id == host_id, schema.StorageVolumeRow.path.is_not(None))
    )
    if paths is not None:
        query = query.where(schema.StorageVolumeRow.path.in_(list(paths)))
    return {row.path: row.capacity_bytes for row in session.execute(query)}


def list_disk_attachments(session: Session) -> list[records.DiskAttachmentRecord]:
    """Return the disks of every managed VM."""
    query = (
        select(schema.DiskAttachmentRow, schema.VmRow)
        .join(schema.VmRow)
        .order_by(schema.VmRow.host_id, schema.VmRow.name, schema.DiskAttachmentRow.device_name)
    )
    return [convert.disk_attachment_record(disk, vm) for disk, vm in session.execute(query)]


def list_networks(session: Session, host_id: str | None = None) -> list[records.NetworkRecord]:
    """Return the networks of one host or of all hosts."""
    query = select(schema.NetworkRow).order_by(schema.NetworkRow.host_id, schema.NetworkRow.name)
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(schema.NetworkRow.host_id == host_id)
    return [convert.network_record(row) for row in session.scalars(query)]


def list_ports(session: Session) -> list[records.PortRecord]:
    """Return every port of every host."""
    query = select(schema.PortRow).order_by(schema.PortRow.host_id, schema.PortRow.mac_address)
    return [convert.port_record(row) for row in session.scalars(query)]


def list_host_ports(session: Session, host_id: str) -> list[records.HostPortRecord]:
    """Return the ports of a host with the VMs they are attached to."""
    host_row(session, host_id)
    query = (
        select(schema.PortAttachmentRow, schema.VmRow, schema.PortRow)
        .join(schema.VmRow, schema.PortAttachmentRow.vm_id == schema.VmRow.id)
        .join(schema.PortRow, schema.PortAttachmentRow.port_id == schema.PortRow.id)
        .where(schema.VmRow.host_id == host_id)
        .order_by(schema.VmRow.name, schema.PortAttachmentRow.device_name)
    )
    return [convert.host_port_record(a, vm, port) for a, vm, port in session.execute(query)]


def list_port_attachments(
    session: Session, host_id: str | None = None, vm_name: str | None = None
) -> list[records.PortAttachmentRecord]:
    """Return port attachments of every VM, of a host's VMs, or of one VM."""
    query = (
        select(schema.PortAttachmentRow, schema.VmRow)
        .join(schema.VmRow, schema.PortAttachmentRow.vm_id == schema.VmRow.id)
        .order_by(schema.VmRow.host_id, schema.VmRow.name, schema.PortAttachmentRow.device_name)
    )
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(schema.VmRow.host_id == host_id)
        if vm_name is not None:
            query = query.where(schema.VmRow.id == _vm_row(session, host_id, vm_name).id)
    return [convert.port_attachment_record(a, vm) for a, vm in session.execute(query)]


def list_video_models(session: Session) -> list[records.VideoModelRecord]:
    """Return every video model template seen on a VM."""
    query = select(schema.VideoModelRow).order_by(schema.VideoModelRow.id)
    return [convert.video_model_record(row) for row in session.scalars(query)]


def list_host_video_devices(session: Session, host_id: str) -> list[records.HostVideoDeviceRecord]:
    """Return the GPUs of a host."""
    host_row(session, host_id)
    query = (
        select(schema.HostVideoDeviceRow)
        .where(schema.HostVideoDeviceRow.host_id == host_id)
        .order_by(schema.HostVideoDeviceRow.pci_address)
    )
    return [convert.host_video_device_record(row) for row in session.scalars(query)]


def list_video_attachments(
    session: Session, host_id: str, vm_name: str
) -> list[records.VideoAttachmentRecord]:
    """Return the video adapters of one VM."""
    vm = _vm_row(session, host_id, vm_name)
    query = (
        select(schema.VideoAttachmentRow)
        .where(schema.VideoAttachmentRow.vm_id == vm.id)
        .order_by(schema.VideoAttachmentRow.monitor_index)
    )
    return [convert.video_attachment_record(row, vm) for row in session.scalars(query)]


def dashboard_stats(session: Session) -> records.DashboardStats:
    """Return system-wide counters; storage figures are decimal GB, rounded."""
    total_hosts = session.scalar(select(func.count()).select_from(schema.HostRow)) or 0
    connected = (
        session.scalar(
            select(func.count())
            .select_from(schema.HostRow)
            .where(schema.HostRow.state == "CONNECTED")
        )
        or 0
    )
    total_vms = (
        session.scalar(
            select(func.count()).select_from(schema.VmRow).where(schema.VmRow.gone_at.is_(None))
        )
        or 0
    )
    active = (
        session.scalar(
            select(func.count())
            .select_from(schema.VmRow)
            .where(
                schema.VmRow.gone_at.is_(None),
                schema.VmRow.state.in_(
                    [int(s) for s in DomainState if s.status is StatusCategory.ACTIVE]
                ),
            )
        )
        or 0
    )
    capacity, allocation = session.execute(
        select(
            func.coalesce(func.sum(schema.StoragePoolRow.capacity_bytes), 0),
            func.coalesce(func.sum(schema.StoragePoolRow.allocation_bytes), 0),
        )
    ).one()
    return records.DashboardStats(
        total_hosts=int(total_hosts),
        connected_hosts=int(connected),
        total_vms=int(total_vms),
        active_vms=int(active),
        total_storage_gb=round(int(capacity) / 1e9),
        used_storage_gb=round(int(allocation) / 1e9),
    )
