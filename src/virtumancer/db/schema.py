"""The database schema: SQLAlchemy 2 typed declarative rows.

Rows are separate from the attrs models and records; :mod:`virtumancer.db.convert` turns one
into the other. Byte counts are ``BigInteger`` (exact). Timestamps are stored as naive UTC
(SQLite has no time zones) and made aware again on the way out.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ActivityRow",
    "ApiTokenRow",
    "Base",
    "DiscoveredVmRow",
    "DiskAttachmentRow",
    "HostLeaseRow",
    "HostRow",
    "HostVideoDeviceRow",
    "NetworkRow",
    "PortAttachmentRow",
    "PortRow",
    "ReplicaRow",
    "SettingRow",
    "StatsSubscriptionRow",
    "StoragePoolRow",
    "StorageVolumeRow",
    "VideoAttachmentRow",
    "VideoModelRow",
    "VmRow",
]

# Deterministic constraint names so migrations behave the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: The surrogate key most tables have, and the host a row belongs to (removed with it):
#: declared once here, used as ``id: Mapped[_SerialId]``.
_SerialId = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
_HostId = Annotated[str, mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)]


class Base(DeclarativeBase):
    """Declarative base of every row."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class HostRow(Base):
    """A configured host. ``state`` is the last known ``ConnectionState`` word."""

    __tablename__ = "hosts"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32), default="DISCONNECTED")
    auto_reconnect_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class VmRow(Base):
    """A managed VM. ``gone_at`` is set when libvirt no longer has the domain."""

    __tablename__ = "vms"
    __table_args__ = (UniqueConstraint("host_id", "uuid", name="uq_vms_host_uuid"),)

    id: Mapped[_SerialId]
    host_id: Mapped[_HostId]
    uuid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    vcpu_count: Mapped[int] = mapped_column(Integer)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[int] = mapped_column(Integer)
    graphics_vnc: Mapped[bool] = mapped_column(Boolean, default=False)
    graphics_spice: Mapped[bool] = mapped_column(Boolean, default=False)
    gone_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    #: digest of what the row and its attachments were written from (skip unchanged VMs)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    disks: Mapped[list[DiskAttachmentRow]] = relationship(
        back_populates="vm", cascade="all, delete-orphan", passive_deletes=True
    )
    ports: Mapped[list[PortAttachmentRow]] = relationship(
        back_populates="vm", cascade="all, delete-orphan", passive_deletes=True
    )
    videos: Mapped[list[VideoAttachmentRow]] = relationship(
        back_populates="vm", cascade="all, delete-orphan", passive_deletes=True
    )


class DiscoveredVmRow(Base):
    """A domain seen on a host. ``dismissed`` hides it while the same UUID exists."""

    __tablename__ = "discovered_vms"

    host_id: Mapped[str] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    domain_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    dismissed: Mapped[bool] = mapped_column(Boolean, default=False)


class StoragePoolRow(Base):
    """A storage pool of a host."""

    __tablename__ = "storage_pools"
    __table_args__ = (UniqueConstraint("host_id", "uuid", name="uq_storage_pools_host_uuid"),)

    id: Mapped[_SerialId]
    host_id: Mapped[_HostId]
    uuid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(Text, default=None)
    state: Mapped[str | None] = mapped_column(String(32), default=None)
    capacity_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    allocation_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    available_bytes: Mapped[int] = mapped_column(BigInteger, default=0)

    volumes: Mapped[list[StorageVolumeRow]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", passive_deletes=True
    )


class StorageVolumeRow(Base):
    """A volume of a storage pool (every volume, not only VM disks)."""

    __tablename__ = "storage_volumes"
    __table_args__ = (
        UniqueConstraint("storage_pool_id", "name", name="uq_storage_volumes_pool_name"),
    )

    id: Mapped[_SerialId]
    storage_pool_id: Mapped[int] = mapped_column(
        ForeignKey("storage_pools.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str | None] = mapped_column(Text, default=None)
    path: Mapped[str | None] = mapped_column(Text, default=None, index=True)
    type: Mapped[str] = mapped_column(String(32), default="file")
    format: Mapped[str | None] = mapped_column(String(32), default=None)
    capacity_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    allocation_bytes: Mapped[int] = mapped_column(BigInteger, default=0)

    pool: Mapped[StoragePoolRow] = relationship(back_populates="volumes")


class DiskAttachmentRow(Base):
    """A disk of a managed VM (by target device name)."""

    __tablename__ = "disk_attachments"
    __table_args__ = (UniqueConstraint("vm_id", "device_name", name="uq_disk_attachments_vm_dev"),)

    id: Mapped[_SerialId]
    vm_id: Mapped[int] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), index=True)
    device_name: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(32), default="disk")
    bus_type: Mapped[str | None] = mapped_column(String(32), default=None)
    path: Mapped[str | None] = mapped_column(Text, default=None)
    format: Mapped[str | None] = mapped_column(String(32), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)

    vm: Mapped[VmRow] = relationship(back_populates="disks")


class NetworkRow(Base):
    """A virtual network of a host."""

    __tablename__ = "networks"
    __table_args__ = (UniqueConstraint("host_id", "uuid", name="uq_networks_host_uuid"),)

    id: Mapped[_SerialId]
    host_id: Mapped[_HostId]
    uuid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    bridge_name: Mapped[str | None] = mapped_column(String(64), default=None)
    mode: Mapped[str] = mapped_column(String(32), default="isolated")
    active: Mapped[bool | None] = mapped_column(Boolean, default=None)


class PortRow(Base):
    """A virtual NIC of a host, identified by its MAC address."""

    __tablename__ = "ports"
    __table_args__ = (UniqueConstraint("host_id", "mac_address", name="uq_ports_host_mac"),)

    id: Mapped[_SerialId]
    host_id: Mapped[_HostId]
    mac_address: Mapped[str] = mapped_column(String(32))
    model_name: Mapped[str | None] = mapped_column(String(64), default=None)


class PortAttachmentRow(Base):
    """A port plugged into a managed VM, with what it is plugged into on the host side."""

    __tablename__ = "port_attachments"
    __table_args__ = (UniqueConstraint("vm_id", "port_id", name="uq_port_attachments_vm_port"),)

    id: Mapped[_SerialId]
    vm_id: Mapped[int] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), index=True)
    port_id: Mapped[int] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), index=True)
    device_name: Mapped[str] = mapped_column(String(64))
    interface_type: Mapped[str] = mapped_column(String(32), default="network")
    source: Mapped[str | None] = mapped_column(String(255), default=None)

    vm: Mapped[VmRow] = relationship(back_populates="ports")
    port: Mapped[PortRow] = relationship()


class VideoModelRow(Base):
    """A video model template: the distinct (model, vram, heads, 3D) seen on VMs."""

    __tablename__ = "video_models"
    __table_args__ = (
        UniqueConstraint("model_name", "vram", "heads", "accel_3d", name="uq_video_models_all"),
    )

    id: Mapped[_SerialId]
    model_name: Mapped[str] = mapped_column(String(32))
    vram: Mapped[int] = mapped_column(BigInteger, default=0)
    heads: Mapped[int] = mapped_column(Integer, default=1)
    accel_3d: Mapped[bool] = mapped_column(Boolean, default=False)


class VideoAttachmentRow(Base):
    """A video adapter of a managed VM."""

    __tablename__ = "video_attachments"
    __table_args__ = (
        UniqueConstraint("vm_id", "monitor_index", name="uq_video_attachments_vm_index"),
    )

    id: Mapped[_SerialId]
    vm_id: Mapped[int] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), index=True)
    video_model_id: Mapped[int] = mapped_column(ForeignKey("video_models.id"), index=True)
    monitor_index: Mapped[int] = mapped_column(Integer)
    primary: Mapped[bool] = mapped_column(Boolean, default=False)

    vm: Mapped[VmRow] = relationship(back_populates="videos")


class HostVideoDeviceRow(Base):
    """A physical display controller (GPU) of a host, from its node devices."""

    __tablename__ = "host_video_devices"
    __table_args__ = (UniqueConstraint("host_id", "name", name="uq_host_video_devices_name"),)

    id: Mapped[_SerialId]
    host_id: Mapped[_HostId]
    name: Mapped[str] = mapped_column(String(255))
    pci_address: Mapped[str] = mapped_column(String(32))
    vendor: Mapped[str | None] = mapped_column(String(255), default=None)
    model_name: Mapped[str | None] = mapped_column(String(255), default=None)
    driver: Mapped[str | None] = mapped_column(String(64), default=None)


class ActivityRow(Base):
    """An entry of the activity feed. No foreign key: entries outlive their host."""

    __tablename__ = "activity_events"

    id: Mapped[_SerialId]
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow, index=True)
    type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    host_id: Mapped[str | None] = mapped_column(String(255), default=None)
    vm_name: Mapped[str | None] = mapped_column(String(255), default=None)
    #: who made the change: a token name, "bootstrap", "cli"; null for what libvirt reported
    actor: Mapped[str | None] = mapped_column(String(64), default=None)


class SettingRow(Base):
    """A persisted setting: a JSON value under a dotted key (``metrics.cpu_smoothing_window``)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ApiTokenRow(Base):
    """An API token. Only the SHA-256 of its secret is stored (``token_hash``)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)


class ReplicaRow(Base):
    """A replica of a fleet (PostgreSQL only): who it is, where it listens, when it last beat.

    ``heartbeat_at`` is the database's clock (``now()``), so replicas' clocks never matter.
    """

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class HostLeaseRow(Base):
    """Who owns a host until when (PostgreSQL only; see ADR 0015).

    ``owner`` is a replica id, or ``None`` for a released host. A lease whose ``expires_at``
    (database clock) has passed is free for any live replica to claim.
    """

    __tablename__ = "host_leases"

    host_id: Mapped[str] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class StatsSubscriptionRow(Base):
    """A replica's interest in one VM's live statistics (PostgreSQL only; ADR 0015).

    The host's owner samples the VMs some live replica wants and sends the updates; rows
    are renewed with the replica's leases, so those of a dead replica expire with them.
    """

    __tablename__ = "stats_subscriptions"

    replica_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host_id: Mapped[str] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    vm_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow, index=True)
