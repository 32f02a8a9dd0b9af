"""Frozen, keyword-only attrs models of Virtumancer; no I/O."""

from __future__ import annotations

from virtumancer.models.devices import (
    Controller,
    Disk,
    Graphics,
    HostDevice,
    Interface,
    PciAddress,
    Video,
)
from virtumancer.models.domain import Domain, DomainDevices, DomainState
from virtumancer.models.host import GuestCapability, HostCapabilities, HostInfo, NodeInfo
from virtumancer.models.metadata import METADATA_NAMESPACE, METADATA_PREFIX, VirtumancerMetadata
from virtumancer.models.network import Network
from virtumancer.models.nodedev import GpuDevice

# --- events (issue 4), records and settings (issue 5) are re-exported below by their owners --
from virtumancer.models.notifications import HostsChanged, Notification, VmsChanged
from virtumancer.models.records import (
    ActivityEvent,
    DashboardOverview,
    DashboardStats,
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
from virtumancer.models.settings import MetricsSettings
from virtumancer.models.stats import (
    DiskRates,
    DiskStats,
    DomainRates,
    DomainStatsSample,
    InterfaceRates,
    InterfaceStats,
    parse_domain_stats,
)
from virtumancer.models.storage import StoragePool, StorageVolume

__all__ = [
    "METADATA_NAMESPACE",
    "METADATA_PREFIX",
    # records, settings, notifications (issue 5)
    "ActivityEvent",
    "Controller",
    "DashboardOverview",
    "DashboardStats",
    "DiscoveredVm",
    "Disk",
    "DiskAttachmentRecord",
    "DiskRates",
    "DiskStats",
    "Domain",
    "DomainDevices",
    "DomainRates",
    "DomainState",
    "DomainStatsSample",
    "GpuDevice",
    "Graphics",
    "GraphicsFlags",
    "GuestCapability",
    "HostCapabilities",
    "HostDevice",
    "HostInfo",
    "HostPortRecord",
    "HostRecord",
    "HostVideoDeviceRecord",
    "HostsChanged",
    "Interface",
    "InterfaceRates",
    "InterfaceStats",
    "MetricsSettings",
    "Network",
    "NetworkRecord",
    "NodeInfo",
    "Notification",
    "PciAddress",
    "PortAttachmentRecord",
    "PortRecord",
    "StoragePool",
    "StoragePoolRecord",
    "StorageVolume",
    "StorageVolumeRecord",
    "Video",
    "VideoAttachmentRecord",
    "VideoModelRecord",
    "VirtumancerMetadata",
    "VmRecord",
    "VmsChanged",
    "parse_domain_stats",
]
