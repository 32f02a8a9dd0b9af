"""Frozen, keyword-only attrs models of Virtumancer; no I/O.

Each name is imported on first use (see :mod:`virtumancer._lazy`): a script that lists domains
does not pay for the records, settings and notifications the service uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtumancer import _lazy

if TYPE_CHECKING:
    from virtumancer.models.devices import (
        CharDevice,
        Controller,
        Disk,
        Filesystem,
        Graphics,
        HostDevice,
        Input,
        Interface,
        PciAddress,
        Rng,
        Sound,
        Tpm,
        Video,
        Watchdog,
    )
    from virtumancer.models.domain import Domain, DomainDevices, DomainState
    from virtumancer.models.events import (
        ConnectionState,
        DomainDeviceEvent,
        DomainLifecycleEvent,
        DomainMetadataChangeEvent,
        DomainRebootEvent,
        HostStateChanged,
        LifecycleEventType,
        PoolEvent,
        PowerAction,
    )
    from virtumancer.models.host import GuestCapability, HostCapabilities, HostInfo, NodeInfo
    from virtumancer.models.metadata import METADATA_NAMESPACE, METADATA_PREFIX, VirtumancerMetadata
    from virtumancer.models.network import Network
    from virtumancer.models.nodedev import GpuDevice
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
    from virtumancer.models.status import StatusCategory
    from virtumancer.models.storage import StoragePool, StorageVolume

if not TYPE_CHECKING:
    __getattr__, __dir__ = _lazy.attach(
        __name__,
        {
            "virtumancer.models.devices": (
                "CharDevice",
                "Controller",
                "Disk",
                "Filesystem",
                "Graphics",
                "HostDevice",
                "Input",
                "Interface",
                "PciAddress",
                "Rng",
                "Sound",
                "Tpm",
                "Video",
                "Watchdog",
            ),
            "virtumancer.models.domain": (
                "Domain",
                "DomainDevices",
                "DomainState",
            ),
            "virtumancer.models.events": (
                "ConnectionState",
                "DomainDeviceEvent",
                "DomainLifecycleEvent",
                "DomainMetadataChangeEvent",
                "DomainRebootEvent",
                "HostStateChanged",
                "LifecycleEventType",
                "PoolEvent",
                "PowerAction",
            ),
            "virtumancer.models.host": (
                "GuestCapability",
                "HostCapabilities",
                "HostInfo",
                "NodeInfo",
            ),
            "virtumancer.models.metadata": (
                "METADATA_NAMESPACE",
                "METADATA_PREFIX",
                "VirtumancerMetadata",
            ),
            "virtumancer.models.network": ("Network",),
            "virtumancer.models.nodedev": ("GpuDevice",),
            "virtumancer.models.notifications": (
                "HostsChanged",
                "Notification",
                "VmsChanged",
            ),
            "virtumancer.models.records": (
                "ActivityEvent",
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
            ),
            "virtumancer.models.settings": ("MetricsSettings",),
            "virtumancer.models.status": ("StatusCategory",),
            "virtumancer.models.stats": (
                "DiskRates",
                "DiskStats",
                "DomainRates",
                "DomainStatsSample",
                "InterfaceRates",
                "InterfaceStats",
                "parse_domain_stats",
            ),
            "virtumancer.models.storage": (
                "StoragePool",
                "StorageVolume",
            ),
        },
    )

__all__ = [
    "METADATA_NAMESPACE",
    "METADATA_PREFIX",
    "ActivityEvent",
    "CharDevice",
    "ConnectionState",
    "Controller",
    "DashboardOverview",
    "DashboardStats",
    "DiscoveredVm",
    "Disk",
    "DiskAttachmentRecord",
    "DiskRates",
    "DiskStats",
    "Domain",
    "DomainDeviceEvent",
    "DomainDevices",
    "DomainLifecycleEvent",
    "DomainMetadataChangeEvent",
    "DomainRates",
    "DomainRebootEvent",
    "DomainState",
    "DomainStatsSample",
    "Filesystem",
    "GpuDevice",
    "Graphics",
    "GraphicsFlags",
    "GuestCapability",
    "HostCapabilities",
    "HostDevice",
    "HostInfo",
    "HostPortRecord",
    "HostRecord",
    "HostStateChanged",
    "HostVideoDeviceRecord",
    "HostsChanged",
    "Input",
    "Interface",
    "InterfaceRates",
    "InterfaceStats",
    "LifecycleEventType",
    "MetricsSettings",
    "Network",
    "NetworkRecord",
    "NodeInfo",
    "Notification",
    "PciAddress",
    "PoolEvent",
    "PortAttachmentRecord",
    "PortRecord",
    "PowerAction",
    "Rng",
    "Sound",
    "StatusCategory",
    "StoragePool",
    "StoragePoolRecord",
    "StorageVolume",
    "StorageVolumeRecord",
    "Tpm",
    "Video",
    "VideoAttachmentRecord",
    "VideoModelRecord",
    "VirtumancerMetadata",
    "VmRecord",
    "VmsChanged",
    "Watchdog",
    "parse_domain_stats",
]
