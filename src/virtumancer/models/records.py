"""What the services return: rows of Virtumancer's inventory, with the API document's names.

Every record is a frozen attrs class whose field names are exactly those of the REST API
document, so a converter's default unstructuring is the HTTP body. Extra fields the API does
not list (``HostRecord.last_error``, ``VmRecord.host_id``/``uuid``, ...) come after the
documented ones and carry defaults.
"""

from __future__ import annotations

import datetime as dt

import attrs

from virtumancer.models.domain import domain_status
from virtumancer.models.events import ConnectionState, host_status
from virtumancer.models.status import StatusCategory

__all__ = [
    "ActivityEvent",
    "ActivityType",
    "DashboardOverview",
    "DashboardStats",
    "DiscoveredVm",
    "DiskAttachmentRecord",
    "GraphicsFlags",
    "HostPortRecord",
    "HostRecord",
    "HostVideoDeviceRecord",
    "NetworkRecord",
    "PortAttachmentRecord",
    "PortRecord",
    "StoragePoolRecord",
    "StorageVolumeRecord",
    "VideoAttachmentRecord",
    "VideoModelRecord",
    "VmRecord",
]


class ActivityType:
    """The ``type`` words of the activity feed."""

    HOST_ADDED = "host_added"
    HOST_REMOVED = "host_removed"
    HOST_CONNECTED = "host_connected"
    HOST_DISCONNECTED = "host_disconnected"
    HOST_LOST = "host_lost"
    VM_IMPORTED = "vm_imported"
    VM_STARTED = "vm_started"
    VM_STOPPED = "vm_stopped"
    VM_REBOOTED = "vm_rebooted"
    VM_CRASHED = "vm_crashed"
    VM_SUSPENDED = "vm_suspended"
    VM_RESUMED = "vm_resumed"
    VM_GONE = "vm_gone"
    VM_REMOVED = "vm_removed"
    VM_CREATED = "vm_created"
    VM_DELETED = "vm_deleted"
    VM_CHANGED = "vm_changed"
    VM_SNAPSHOT_CREATED = "vm_snapshot_created"
    VM_SNAPSHOT_REVERTED = "vm_snapshot_reverted"
    VM_SNAPSHOT_DELETED = "vm_snapshot_deleted"
    STORAGE_CHANGED = "storage_changed"
    NETWORK_CHANGED = "network_changed"
    TOKEN_CREATED = "token_created"  # noqa: S105 (an activity type)
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 (an activity type)


@attrs.frozen(kw_only=True)
class HostRecord:
    """A configured host. ``state`` is a ``ConnectionState`` word (``"CONNECTED"``, ...)."""

    id: str
    uri: str
    #: JSON Schema hints for the OpenAPI generator (``virtumancer_server.schema``).
    state: str = attrs.field(metadata={"openapi": {"enum": ConnectionState}})
    auto_reconnect_disabled: bool
    created_at: dt.datetime
    last_error: str | None = None

    @property
    def status(self) -> StatusCategory:
        """The category of this host's connection state (sent as the API's ``status``)."""
        return host_status(self.state)


@attrs.frozen(kw_only=True)
class GraphicsFlags:
    """Which consoles a VM offers."""

    vnc: bool = False
    spice: bool = False


@attrs.frozen(kw_only=True)
class VmRecord:
    """A managed VM as the database knows it. ``state`` is libvirt's number (1 = running).

    ``gone_at`` is set when libvirt no longer has the domain; the next reconciliation that
    still misses it removes the VM.
    """

    db_id: int
    name: str
    description: str
    vcpu_count: int
    memory_bytes: int = attrs.field(
        metadata={"openapi": {"x-unit": "bytes", "description": "Maximum memory, in bytes"}}
    )
    state: int
    graphics: GraphicsFlags
    created_at: dt.datetime
    updated_at: dt.datetime
    host_id: str = ""
    uuid: str = ""
    gone_at: dt.datetime | None = None

    @property
    def status(self) -> StatusCategory:
        """The category of this VM's state (sent as the API's ``status``)."""
        return domain_status(self.state)


@attrs.frozen(kw_only=True)
class DiscoveredVm:
    """A domain on a host that Virtumancer does not manage (yet)."""

    domain_uuid: str
    name: str
    host_id: str
    last_seen_at: dt.datetime
    imported: bool = False


@attrs.frozen(kw_only=True)
class StoragePoolRecord:
    """A storage pool of a host. ``id`` is the pool's libvirt UUID. Sizes are bytes."""

    id: str
    host_id: str
    name: str
    type: str
    path: str | None
    capacity_bytes: int
    allocation_bytes: int
    available_bytes: int = 0
    state: str | None = None


@attrs.frozen(kw_only=True)
class StorageVolumeRecord:
    """A volume in a storage pool. ``id`` is stable (the volume key). Sizes are bytes."""

    id: str
    storage_pool_id: str
    name: str
    type: str
    format: str | None
    capacity_bytes: int
    allocation_bytes: int
    path: str | None = None
    host_id: str = ""


@attrs.frozen(kw_only=True)
class DiskAttachmentRecord:
    """A disk of a managed VM; ``disk_id`` names the disk (volume id when known)."""

    id: str
    vm_uuid: str
    disk_id: str
    device_name: str
    bus_type: str | None
    size_bytes: int | None
    path: str | None = None
    host_id: str = ""


@attrs.frozen(kw_only=True)
class NetworkRecord:
    """A virtual network of a host; ``mode`` is the forward mode (``"isolated"`` if none)."""

    id: str
    host_id: str
    name: str
    uuid: str
    bridge_name: str | None
    mode: str


@attrs.frozen(kw_only=True)
class PortRecord:
    """A virtual NIC (identified by its MAC) on a host."""

    id: str
    mac_address: str
    model_name: str | None
    host_id: str


@attrs.frozen(kw_only=True)
class HostPortRecord:
    """A port of a host together with the VM it is attached to."""

    id: str
    vm_uuid: str
    port_id: str
    device_name: str
    mac_address: str


@attrs.frozen(kw_only=True)
class PortAttachmentRecord:
    """Which VM a port is attached to, under which device name."""

    id: str
    vm_uuid: str
    port_id: str
    device_name: str


@attrs.frozen(kw_only=True)
class VideoModelRecord:
    """A video model template (model name + VRAM + heads + 3D)."""

    id: int
    model_name: str
    vram: int | None
    heads: int | None
    accel_3d: bool


@attrs.frozen(kw_only=True)
class HostVideoDeviceRecord:
    """A physical display controller of a host."""

    id: int
    host_device_id: int
    vendor: str | None
    model_name: str | None
    uuid: str
    host_id: str = ""


@attrs.frozen(kw_only=True)
class VideoAttachmentRecord:
    """A video device of a managed VM."""

    id: int
    vm_uuid: str
    video_model_id: int
    monitor_index: int
    primary: bool


@attrs.frozen(kw_only=True)
class ActivityEvent:
    """An entry of the activity feed.

    ``actor`` names who made the change (a token's name, ``"bootstrap"`` for the server's
    own token, ``"cli"``); it is null for what libvirt reported on its own.
    """

    id: int
    timestamp: dt.datetime
    type: str
    message: str
    host_id: str | None
    vm_name: str | None
    actor: str | None = None


@attrs.frozen(kw_only=True)
class DashboardStats:
    """System-wide counters for the dashboard. Storage figures are GB (10^9 bytes), rounded."""

    total_hosts: int
    connected_hosts: int
    total_vms: int
    active_vms: int
    total_storage_gb: int
    used_storage_gb: int


@attrs.frozen(kw_only=True)
class DashboardOverview:
    """The dashboard's first page load."""

    stats: DashboardStats
    recent_activity: tuple[ActivityEvent, ...]
