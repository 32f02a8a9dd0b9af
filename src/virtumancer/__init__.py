"""Virtumancer: a typed SDK for libvirt/KVM hosts and their virtual machines."""

from __future__ import annotations

import logging

from virtumancer.exceptions import (
    ConflictError,
    HostUnavailableError,
    InvalidInputError,
    NotFoundError,
    OperationTimeoutError,
    UriPolicyError,
    VirtumancerError,
    XMLParseError,
)

# --- models, XML, converters (issue 3) -----------------------------------------------
# isort: split
from virtumancer._xml import (
    node_info_from_libvirt,
    parse_capabilities,
    parse_domain,
    parse_metadata,
    parse_network,
    parse_node_device,
    parse_storage_pool,
    parse_storage_volume,
    render_disk,
    render_graphics,
    render_interface,
    render_metadata,
    render_video,
)
from virtumancer.converters import make_converter, stats_payload
from virtumancer.models import (
    METADATA_NAMESPACE,
    METADATA_PREFIX,
    Controller,
    Disk,
    DiskRates,
    DiskStats,
    Domain,
    DomainDevices,
    DomainRates,
    DomainState,
    DomainStatsSample,
    GpuDevice,
    Graphics,
    GuestCapability,
    HostCapabilities,
    HostDevice,
    HostInfo,
    Interface,
    InterfaceRates,
    InterfaceStats,
    Network,
    NodeInfo,
    PciAddress,
    StoragePool,
    StorageVolume,
    Video,
    VirtumancerMetadata,
    parse_domain_stats,
)
from virtumancer.rates import compute_rates

# isort: split

# --- pool, events, sync facade (issue 4) ---------------------------------------------
# --- persistence and services (issue 5) ----------------------------------------------
from virtumancer.manager import Virtumancer
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

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "ConflictError",
    "HostUnavailableError",
    "InvalidInputError",
    "NotFoundError",
    "OperationTimeoutError",
    "UriPolicyError",
    "VirtumancerError",
    "XMLParseError",
    "__version__",
    # models, XML, converters (issue 3)
    "METADATA_NAMESPACE",
    "METADATA_PREFIX",
    "Controller",
    "Disk",
    "DiskRates",
    "DiskStats",
    "Domain",
    "DomainDevices",
    "DomainRates",
    "DomainState",
    "DomainStatsSample",
    "GpuDevice",
    "Graphics",
    "GuestCapability",
    "HostCapabilities",
    "HostDevice",
    "HostInfo",
    "Interface",
    "InterfaceRates",
    "InterfaceStats",
    "Network",
    "NodeInfo",
    "PciAddress",
    "StoragePool",
    "StorageVolume",
    "Video",
    "VirtumancerMetadata",
    "compute_rates",
    "make_converter",
    "node_info_from_libvirt",
    "parse_capabilities",
    "parse_domain",
    "parse_domain_stats",
    "parse_metadata",
    "parse_network",
    "parse_node_device",
    "parse_storage_pool",
    "parse_storage_volume",
    "render_disk",
    "render_graphics",
    "render_interface",
    "render_metadata",
    "render_video",
    "stats_payload",
    # persistence and services (issue 5)
    "ActivityEvent",
    "DashboardOverview",
    "DashboardStats",
    "DiscoveredVm",
    "DiskAttachmentRecord",
    "GraphicsFlags",
    "HostPortRecord",
    "HostRecord",
    "HostVideoDeviceRecord",
    "HostsChanged",
    "MetricsSettings",
    "NetworkRecord",
    "Notification",
    "PortAttachmentRecord",
    "PortRecord",
    "StoragePoolRecord",
    "StorageVolumeRecord",
    "VideoAttachmentRecord",
    "VideoModelRecord",
    "Virtumancer",
    "VmRecord",
    "VmsChanged",
]
