"""Frozen, keyword-only attrs models of Virtumancer; no I/O.

Each name is imported on first use (see :mod:`virtumancer._lazy`): a script that lists domains
does not pay for the records, settings and notifications the service uses.
"""

# How to add a public name: put it in its module's tuple in the `_lazy.attach` table
# below (a new module gets a new row) and import it under TYPE_CHECKING in the form
# `from module import Name as Name` (mypy reads that; the table is what runs).
# `__all__` is derived from the table: never write it out. tests/unit/test_public_api.py
# checks that the imports and the table agree.

from __future__ import annotations

from typing import TYPE_CHECKING

from virtumancer import _lazy

if TYPE_CHECKING:
    from virtumancer.models.devices import CharDevice as CharDevice
    from virtumancer.models.devices import Controller as Controller
    from virtumancer.models.devices import Disk as Disk
    from virtumancer.models.devices import Filesystem as Filesystem
    from virtumancer.models.devices import Graphics as Graphics
    from virtumancer.models.devices import HostDevice as HostDevice
    from virtumancer.models.devices import Input as Input
    from virtumancer.models.devices import Interface as Interface
    from virtumancer.models.devices import PciAddress as PciAddress
    from virtumancer.models.devices import Rng as Rng
    from virtumancer.models.devices import Sound as Sound
    from virtumancer.models.devices import Tpm as Tpm
    from virtumancer.models.devices import Video as Video
    from virtumancer.models.devices import Watchdog as Watchdog
    from virtumancer.models.domain import Domain as Domain
    from virtumancer.models.domain import DomainDevices as DomainDevices
    from virtumancer.models.domain import DomainState as DomainState
    from virtumancer.models.events import ConnectionState as ConnectionState
    from virtumancer.models.events import DomainDeviceEvent as DomainDeviceEvent
    from virtumancer.models.events import DomainLifecycleEvent as DomainLifecycleEvent
    from virtumancer.models.events import DomainMetadataChangeEvent as DomainMetadataChangeEvent
    from virtumancer.models.events import DomainRebootEvent as DomainRebootEvent
    from virtumancer.models.events import HostStateChanged as HostStateChanged
    from virtumancer.models.events import LifecycleEventType as LifecycleEventType
    from virtumancer.models.events import PoolEvent as PoolEvent
    from virtumancer.models.events import PowerAction as PowerAction
    from virtumancer.models.host import GuestCapability as GuestCapability
    from virtumancer.models.host import HostCapabilities as HostCapabilities
    from virtumancer.models.host import HostInfo as HostInfo
    from virtumancer.models.host import NodeInfo as NodeInfo
    from virtumancer.models.metadata import METADATA_NAMESPACE as METADATA_NAMESPACE
    from virtumancer.models.metadata import METADATA_PREFIX as METADATA_PREFIX
    from virtumancer.models.metadata import VirtumancerMetadata as VirtumancerMetadata
    from virtumancer.models.network import Network as Network
    from virtumancer.models.nodedev import GpuDevice as GpuDevice
    from virtumancer.models.notifications import HostsChanged as HostsChanged
    from virtumancer.models.notifications import Notification as Notification
    from virtumancer.models.notifications import VmsChanged as VmsChanged
    from virtumancer.models.records import ActivityEvent as ActivityEvent
    from virtumancer.models.records import DashboardOverview as DashboardOverview
    from virtumancer.models.records import DashboardStats as DashboardStats
    from virtumancer.models.records import DiscoveredVm as DiscoveredVm
    from virtumancer.models.records import DiskAttachmentRecord as DiskAttachmentRecord
    from virtumancer.models.records import GraphicsFlags as GraphicsFlags
    from virtumancer.models.records import HostPortRecord as HostPortRecord
    from virtumancer.models.records import HostRecord as HostRecord
    from virtumancer.models.records import HostVideoDeviceRecord as HostVideoDeviceRecord
    from virtumancer.models.records import NetworkRecord as NetworkRecord
    from virtumancer.models.records import PortAttachmentRecord as PortAttachmentRecord
    from virtumancer.models.records import PortRecord as PortRecord
    from virtumancer.models.records import StoragePoolRecord as StoragePoolRecord
    from virtumancer.models.records import StorageVolumeRecord as StorageVolumeRecord
    from virtumancer.models.records import VideoAttachmentRecord as VideoAttachmentRecord
    from virtumancer.models.records import VideoModelRecord as VideoModelRecord
    from virtumancer.models.records import VmRecord as VmRecord
    from virtumancer.models.settings import MetricsSettings as MetricsSettings
    from virtumancer.models.spec import Accelerator as Accelerator
    from virtumancer.models.spec import BootDevice as BootDevice
    from virtumancer.models.spec import CloudInitSpec as CloudInitSpec
    from virtumancer.models.spec import DiskBus as DiskBus
    from virtumancer.models.spec import DiskDevice as DiskDevice
    from virtumancer.models.spec import DiskSource as DiskSource
    from virtumancer.models.spec import DiskSpec as DiskSpec
    from virtumancer.models.spec import ExistingPath as ExistingPath
    from virtumancer.models.spec import ExistingVolume as ExistingVolume
    from virtumancer.models.spec import Firmware as Firmware
    from virtumancer.models.spec import GraphicsSpec as GraphicsSpec
    from virtumancer.models.spec import GraphicsType as GraphicsType
    from virtumancer.models.spec import KernelBoot as KernelBoot
    from virtumancer.models.spec import NewVolume as NewVolume
    from virtumancer.models.spec import NicSpec as NicSpec
    from virtumancer.models.spec import Overlay as Overlay
    from virtumancer.models.spec import OvmfFirmware as OvmfFirmware
    from virtumancer.models.spec import SerialSpec as SerialSpec
    from virtumancer.models.spec import SerialType as SerialType
    from virtumancer.models.spec import VmSpec as VmSpec
    from virtumancer.models.spec import VolumeFormat as VolumeFormat
    from virtumancer.models.spec import find_ovmf as find_ovmf
    from virtumancer.models.spec import generate_mac as generate_mac
    from virtumancer.models.spec import resolve_spec_defaults as resolve_spec_defaults
    from virtumancer.models.stats import DiskRates as DiskRates
    from virtumancer.models.stats import DiskStats as DiskStats
    from virtumancer.models.stats import DomainRates as DomainRates
    from virtumancer.models.stats import DomainStatsSample as DomainStatsSample
    from virtumancer.models.stats import InterfaceRates as InterfaceRates
    from virtumancer.models.stats import InterfaceStats as InterfaceStats
    from virtumancer.models.stats import parse_domain_stats as parse_domain_stats
    from virtumancer.models.status import StatusCategory as StatusCategory
    from virtumancer.models.storage import StoragePool as StoragePool
    from virtumancer.models.storage import StorageVolume as StorageVolume

# No `__all__: list[str]` declaration here (the root's and _xml's have one): mypy would take it
# for the list the root's `import *` gets, and see none of these names there.
if not TYPE_CHECKING:
    __getattr__, __dir__, __all__ = _lazy.attach(
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
            "virtumancer.models.spec": (
                "Accelerator",
                "BootDevice",
                "CloudInitSpec",
                "DiskBus",
                "DiskDevice",
                "DiskSource",
                "DiskSpec",
                "ExistingPath",
                "ExistingVolume",
                "Firmware",
                "GraphicsSpec",
                "GraphicsType",
                "KernelBoot",
                "NewVolume",
                "NicSpec",
                "Overlay",
                "OvmfFirmware",
                "SerialSpec",
                "SerialType",
                "VmSpec",
                "VolumeFormat",
                "find_ovmf",
                "generate_mac",
                "resolve_spec_defaults",
            ),
            "virtumancer.models.stats": (
                "DiskRates",
                "DiskStats",
                "DomainRates",
                "DomainStatsSample",
                "InterfaceRates",
                "InterfaceStats",
                "parse_domain_stats",
            ),
            "virtumancer.models.status": ("StatusCategory",),
            "virtumancer.models.storage": (
                "StoragePool",
                "StorageVolume",
            ),
        },
    )
