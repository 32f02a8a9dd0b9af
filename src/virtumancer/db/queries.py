"""Read queries behind the API: listings of VMs, storage, networks, ports, video, counters.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from virtumancer.db import convert
from virtumancer.db.hosts import host_row
from virtumancer.db.schema import (
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
from virtumancer.exceptions import NotFoundError
from virtumancer.models.domain import DomainState
from virtumancer.models.records import (
    DashboardStats,
    DiscoveredVm,
    DiskAttachmentRecord,
    HostPortRecord,
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


def list_vms(session: Session, host_id: str) -> list[VmRecord]:
    """Return the managed VMs of a host, by name (:class:`NotFoundError` for a bad host)."""
    host_row(session, host_id)
    rows = session.scalars(select(VmRow).where(VmRow.host_id == host_id).order_by(VmRow.name))
    return [convert.vm_record(row) for row in rows]


def _vm_row(session: Session, host_id: str, vm_name: str) -> VmRow:
    row = session.scalars(
        select(VmRow)
        .where(VmRow.host_id == host_id, VmRow.name == vm_name)
        .order_by(VmRow.gone_at.is_not(None), VmRow.id)
    ).first()
    if row is None:
        host_row(session, host_id)
        raise NotFoundError(f"VM {vm_name!r} not found", host_id=host_id, vm_name=vm_name)
    return row


def get_vm(session: Session, host_id: str, vm_name: str) -> VmRecord:
    """Return one managed VM by name (:class:`NotFoundError`)."""
    return convert.vm_record(_vm_row(session, host_id, vm_name))


def managed_uuids(session: Session, host_id: str) -> set[str]:
    """Return the domain UUIDs of the managed VMs of a host."""
    return set(session.scalars(select(VmRow.uuid).where(VmRow.host_id == host_id)))


def list_discovered(session: Session, host_id: str) -> list[DiscoveredVm]:
    """Return the discovered VMs of a host not imported and not dismissed, by name."""
    host_row(session, host_id)
    rows = session.scalars(
        select(DiscoveredVmRow)
        .where(
            DiscoveredVmRow.host_id == host_id,
            DiscoveredVmRow.imported.is_(False),
            DiscoveredVmRow.dismissed.is_(False),
        )
        .order_by(DiscoveredVmRow.name)
    )
    return [convert.discovered_record(row) for row in rows]


def discovered_uuids(session: Session, host_id: str) -> dict[str, str]:
    """Return ``{uuid: name}`` of the importable discovered VMs of a host."""
    return {vm.domain_uuid: vm.name for vm in list_discovered(session, host_id)}


def unimportable_uuids(session: Session, host_id: str) -> set[str]:
    """Return the UUIDs "import all" leaves alone: managed or dismissed domains."""
    host_row(session, host_id)
    managed = session.scalars(select(VmRow.uuid).where(VmRow.host_id == host_id))
    dismissed = session.scalars(
        select(DiscoveredVmRow.domain_uuid).where(
            DiscoveredVmRow.host_id == host_id, DiscoveredVmRow.dismissed.is_(True)
        )
    )
    return set(managed) | set(dismissed)


def list_storage_pools(session: Session, host_id: str | None = None) -> list[StoragePoolRecord]:
    """Return the storage pools of one host or of all hosts."""
    query = select(StoragePoolRow).order_by(StoragePoolRow.host_id, StoragePoolRow.name)
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(StoragePoolRow.host_id == host_id)
    return [convert.storage_pool_record(row) for row in session.scalars(query)]


def list_storage_volumes(session: Session, host_id: str | None = None) -> list[StorageVolumeRecord]:
    """Return every volume of every pool of one host or of all hosts."""
    query = (
        select(StorageVolumeRow, StoragePoolRow)
        .join(StoragePoolRow)
        .order_by(StoragePoolRow.host_id, StoragePoolRow.name, StorageVolumeRow.name)
    )
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(StoragePoolRow.host_id == host_id)
    return [convert.storage_volume_record(volume, pool) for volume, pool in session.execute(query)]


def volume_sizes(session: Session, host_id: str) -> dict[str, int]:
    """Return the capacity of every pool volume of a host by path (one query)."""
    rows = session.execute(
        select(StorageVolumeRow.path, StorageVolumeRow.capacity_bytes)
        .join(StoragePoolRow)
        .where(StoragePoolRow.host_id == host_id, StorageVolumeRow.path.is_not(None))
    )
    return {row.path: row.capacity_bytes for row in rows}


def list_disk_attachments(session: Session) -> list[DiskAttachmentRecord]:
    """Return the disks of every managed VM."""
    query = (
        select(DiskAttachmentRow, VmRow)
        .join(VmRow)
        .order_by(VmRow.host_id, VmRow.name, DiskAttachmentRow.device_name)
    )
    return [convert.disk_attachment_record(disk, vm) for disk, vm in session.execute(query)]


def list_networks(session: Session, host_id: str | None = None) -> list[NetworkRecord]:
    """Return the networks of one host or of all hosts."""
    query = select(NetworkRow).order_by(NetworkRow.host_id, NetworkRow.name)
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(NetworkRow.host_id == host_id)
    return [convert.network_record(row) for row in session.scalars(query)]


def list_ports(session: Session) -> list[PortRecord]:
    """Return every port of every host."""
    query = select(PortRow).order_by(PortRow.host_id, PortRow.mac_address)
    return [convert.port_record(row) for row in session.scalars(query)]


def list_host_ports(session: Session, host_id: str) -> list[HostPortRecord]:
    """Return the ports of a host with the VMs they are attached to."""
    host_row(session, host_id)
    query = (
        select(PortAttachmentRow, VmRow, PortRow)
        .join(VmRow, PortAttachmentRow.vm_id == VmRow.id)
        .join(PortRow, PortAttachmentRow.port_id == PortRow.id)
        .where(VmRow.host_id == host_id)
        .order_by(VmRow.name, PortAttachmentRow.device_name)
    )
    return [convert.host_port_record(a, vm, port) for a, vm, port in session.execute(query)]


def list_port_attachments(
    session: Session, host_id: str | None = None, vm_name: str | None = None
) -> list[PortAttachmentRecord]:
    """Return port attachments of every VM, of a host's VMs, or of one VM."""
    query = (
        select(PortAttachmentRow, VmRow)
        .join(VmRow, PortAttachmentRow.vm_id == VmRow.id)
        .order_by(VmRow.host_id, VmRow.name, PortAttachmentRow.device_name)
    )
    if host_id is not None:
        host_row(session, host_id)
        query = query.where(VmRow.host_id == host_id)
        if vm_name is not None:
            query = query.where(VmRow.id == _vm_row(session, host_id, vm_name).id)
    return [convert.port_attachment_record(a, vm) for a, vm in session.execute(query)]


def list_video_models(session: Session) -> list[VideoModelRecord]:
    """Return every video model template seen on a VM."""
    query = select(VideoModelRow).order_by(VideoModelRow.id)
    return [convert.video_model_record(row) for row in session.scalars(query)]


def list_host_video_devices(session: Session, host_id: str) -> list[HostVideoDeviceRecord]:
    """Return the GPUs of a host."""
    host_row(session, host_id)
    query = (
        select(HostVideoDeviceRow)
        .where(HostVideoDeviceRow.host_id == host_id)
        .order_by(HostVideoDeviceRow.pci_address)
    )
    return [convert.host_video_device_record(row) for row in session.scalars(query)]


def list_video_attachments(
    session: Session, host_id: str, vm_name: str
) -> list[VideoAttachmentRecord]:
    """Return the video adapters of one VM."""
    vm = _vm_row(session, host_id, vm_name)
    query = (
        select(VideoAttachmentRow)
        .where(VideoAttachmentRow.vm_id == vm.id)
        .order_by(VideoAttachmentRow.monitor_index)
    )
    return [convert.video_attachment_record(row, vm) for row in session.scalars(query)]


def dashboard_stats(session: Session) -> DashboardStats:
    """Return system-wide counters; storage figures are decimal GB, rounded."""
    total_hosts = session.scalar(select(func.count()).select_from(HostRow)) or 0
    connected = (
        session.scalar(
            select(func.count()).select_from(HostRow).where(HostRow.state == "CONNECTED")
        )
        or 0
    )
    total_vms = (
        session.scalar(select(func.count()).select_from(VmRow).where(VmRow.gone_at.is_(None))) or 0
    )
    active = (
        session.scalar(
            select(func.count())
            .select_from(VmRow)
            .where(
                VmRow.gone_at.is_(None),
                VmRow.state.in_([int(s) for s in DomainState if s.status is StatusCategory.ACTIVE]),
            )
        )
        or 0
    )
    capacity, allocation = session.execute(
        select(
            func.coalesce(func.sum(StoragePoolRow.capacity_bytes), 0),
            func.coalesce(func.sum(StoragePoolRow.allocation_bytes), 0),
        )
    ).one()
    return DashboardStats(
        total_hosts=int(total_hosts),
        connected_hosts=int(connected),
        total_vms=int(total_vms),
        active_vms=int(active),
        total_storage_gb=round(int(capacity) / 1e9),
        used_storage_gb=round(int(allocation) / 1e9),
    )
