"""Virtumancer: a typed SDK for libvirt/KVM hosts and their virtual machines.

Every public name is imported on first use (PEP 562), so ``import virtumancer`` costs next to
nothing and a one-shot script, CLI call or Ansible task pays only for what it touches:
``virtumancer.connect(...)`` loads the pool, the models and the XML parsers, never the
database or the service stack.
"""

# How to add a public name: put it in its module's tuple in the `_lazy.attach` table
# below (a new module gets a new row) and import it under TYPE_CHECKING in the form
# `from module import Name as Name` (mypy reads that; the table is what runs).
# `__all__` is derived from the table: never write it out. tests/unit/test_public_api.py
# checks that the imports and the table agree.
# A model that virtumancer.models exports is exported here too: add it there only.

from __future__ import annotations

from typing import TYPE_CHECKING

from virtumancer import _lazy
from virtumancer._version import __version__ as __version__

if TYPE_CHECKING:
    from virtumancer._xml import node_info_from_libvirt as node_info_from_libvirt
    from virtumancer._xml import parse_capabilities as parse_capabilities
    from virtumancer._xml import parse_domain as parse_domain
    from virtumancer._xml import parse_metadata as parse_metadata
    from virtumancer._xml import parse_network as parse_network
    from virtumancer._xml import parse_node_device as parse_node_device
    from virtumancer._xml import parse_storage_pool as parse_storage_pool
    from virtumancer._xml import parse_storage_volume as parse_storage_volume
    from virtumancer._xml import render_disk as render_disk
    from virtumancer._xml import render_graphics as render_graphics
    from virtumancer._xml import render_interface as render_interface
    from virtumancer._xml import render_metadata as render_metadata
    from virtumancer._xml import render_video as render_video
    from virtumancer._xml.spec import render_spec as render_spec
    from virtumancer.cloudinit import build_nocloud_iso as build_nocloud_iso
    from virtumancer.converters import COMPUTED_FIELDS as COMPUTED_FIELDS
    from virtumancer.converters import RENAMED_FIELDS as RENAMED_FIELDS
    from virtumancer.converters import WS_MEMORY_UNIT as WS_MEMORY_UNIT
    from virtumancer.converters import host_info_payload as host_info_payload
    from virtumancer.converters import make_converter as make_converter
    from virtumancer.converters import stats_payload as stats_payload
    from virtumancer.exceptions import ConflictError as ConflictError
    from virtumancer.exceptions import ConnectionLostError as ConnectionLostError
    from virtumancer.exceptions import HostUnavailableError as HostUnavailableError
    from virtumancer.exceptions import InvalidInputError as InvalidInputError
    from virtumancer.exceptions import NotFoundError as NotFoundError
    from virtumancer.exceptions import OperationCancelledError as OperationCancelledError
    from virtumancer.exceptions import OperationTimeoutError as OperationTimeoutError
    from virtumancer.exceptions import UriPolicyError as UriPolicyError
    from virtumancer.exceptions import VirtumancerError as VirtumancerError
    from virtumancer.exceptions import XMLParseError as XMLParseError
    from virtumancer.manager import Virtumancer as Virtumancer
    from virtumancer.models import *  # noqa: F403  (its whole __all__)
    from virtumancer.models._display import ModelList as ModelList
    from virtumancer.models.console import ConsoleKind as ConsoleKind
    from virtumancer.models.console import ConsoleRoute as ConsoleRoute
    from virtumancer.models.console import ConsoleTarget as ConsoleTarget
    from virtumancer.models.fleet import ClusterRecord as ClusterRecord
    from virtumancer.models.fleet import ReplicaRecord as ReplicaRecord
    from virtumancer.models.lifecycle import DeletePlan as DeletePlan
    from virtumancer.models.lifecycle import DesiredState as DesiredState
    from virtumancer.models.lifecycle import DeviceScope as DeviceScope
    from virtumancer.models.lifecycle import EnsureNetworkResult as EnsureNetworkResult
    from virtumancer.models.lifecycle import EnsureResult as EnsureResult
    from virtumancer.models.lifecycle import EnsureSnapshotResult as EnsureSnapshotResult
    from virtumancer.models.lifecycle import EnsureVolumeResult as EnsureVolumeResult
    from virtumancer.models.lifecycle import VmChange as VmChange
    from virtumancer.models.network import NatNetworkSpec as NatNetworkSpec
    from virtumancer.models.notifications import TaskUpdated as TaskUpdated
    from virtumancer.models.readiness import Readiness as Readiness
    from virtumancer.models.snapshot import Snapshot as Snapshot
    from virtumancer.models.tasks import Task as Task
    from virtumancer.models.tasks import TaskState as TaskState
    from virtumancer.models.tokens import BOOTSTRAP_ACTOR as BOOTSTRAP_ACTOR
    from virtumancer.models.tokens import ApiToken as ApiToken
    from virtumancer.models.tokens import CreatedToken as CreatedToken
    from virtumancer.models.tokens import Role as Role
    from virtumancer.models.tokens import acting_as as acting_as
    from virtumancer.models.tokens import current_actor as current_actor
    from virtumancer.models.tokens import parse_duration as parse_duration
    from virtumancer.models.tokens import parse_expiry as parse_expiry
    from virtumancer.pool import ConnectionPool as ConnectionPool
    from virtumancer.pool import EventSubscription as EventSubscription
    from virtumancer.pool import HostPool as HostPool
    from virtumancer.pool import ListedDomain as ListedDomain
    from virtumancer.rates import compute_rates as compute_rates
    from virtumancer.services.importing import ImportResult as ImportResult
    from virtumancer.services.importing import import_vms as import_vms
    from virtumancer.services.metrics import MetricFamily as MetricFamily
    from virtumancer.services.metrics import MetricSample as MetricSample
    from virtumancer.services.metrics import collect_metrics as collect_metrics
    from virtumancer.services.stats import StatsSampler as StatsSampler
    from virtumancer.services.stats import StatsSubscription as StatsSubscription
    from virtumancer.services.stats import StatsUpdate as StatsUpdate
    from virtumancer.services.tokens import TokenService as TokenService
    from virtumancer.spec_json import DISK_KINDS as DISK_KINDS
    from virtumancer.spec_json import structure_spec as structure_spec
    from virtumancer.spec_json import structure_spec_part as structure_spec_part
    from virtumancer.spec_json import unstructure_spec as unstructure_spec
    from virtumancer.sync import SyncHost as SyncHost
    from virtumancer.sync import connect as connect
    from virtumancer.tasks import TaskProgress as TaskProgress
    from virtumancer.tasks import TaskRegistry as TaskRegistry
    from virtumancer.topology import Topology as Topology
    from virtumancer.topology import TopologyLayout as TopologyLayout
    from virtumancer.topology import build_topology as build_topology
    from virtumancer.topology import layout_topology as layout_topology
    from virtumancer.topology import render_svg as render_svg
    from virtumancer.uri import UriPolicy as UriPolicy
    from virtumancer.uri import check_uri as check_uri
    from virtumancer.uri import default_key_dirs as default_key_dirs
    from virtumancer.uri import default_socket_dirs as default_socket_dirs
    from virtumancer.uri import redact_uri as redact_uri

__all__: list[str]  # derived from the table below

if not TYPE_CHECKING:
    __getattr__, __dir__, __all__ = _lazy.attach(
        __name__,
        {
            "virtumancer._xml": (
                "node_info_from_libvirt",
                "parse_capabilities",
                "parse_domain",
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
            ),
            "virtumancer._xml.spec": ("render_spec",),
            "virtumancer.cloudinit": ("build_nocloud_iso",),
            "virtumancer.converters": (
                "COMPUTED_FIELDS",
                "RENAMED_FIELDS",
                "WS_MEMORY_UNIT",
                "host_info_payload",
                "make_converter",
                "stats_payload",
            ),
            "virtumancer.exceptions": (
                "ConflictError",
                "ConnectionLostError",
                "HostUnavailableError",
                "InvalidInputError",
                "NotFoundError",
                "OperationCancelledError",
                "OperationTimeoutError",
                "UriPolicyError",
                "VirtumancerError",
                "XMLParseError",
            ),
            "virtumancer.manager": ("Virtumancer",),
            "virtumancer.models.console": (
                "ConsoleKind",
                "ConsoleRoute",
                "ConsoleTarget",
            ),
            "virtumancer.models.fleet": (
                "ClusterRecord",
                "ReplicaRecord",
            ),
            "virtumancer.models.lifecycle": (
                "DeletePlan",
                "DesiredState",
                "DeviceScope",
                "EnsureNetworkResult",
                "EnsureResult",
                "EnsureSnapshotResult",
                "EnsureVolumeResult",
                "VmChange",
            ),
            "virtumancer.models.network": ("NatNetworkSpec",),
            "virtumancer.models.notifications": ("TaskUpdated",),
            "virtumancer.models.readiness": ("Readiness",),
            "virtumancer.models.snapshot": ("Snapshot",),
            "virtumancer.models.tasks": (
                "Task",
                "TaskState",
            ),
            "virtumancer.models.tokens": (
                "ApiToken",
                "BOOTSTRAP_ACTOR",
                "CreatedToken",
                "Role",
                "acting_as",
                "current_actor",
                "parse_duration",
                "parse_expiry",
            ),
            "virtumancer.models._display": ("ModelList",),
            "virtumancer.pool": (
                "ConnectionPool",
                "EventSubscription",
                "HostPool",
                "ListedDomain",
            ),
            "virtumancer.rates": ("compute_rates",),
            "virtumancer.services.metrics": (
                "MetricFamily",
                "MetricSample",
                "collect_metrics",
            ),
            "virtumancer.services.stats": (
                "StatsSampler",
                "StatsSubscription",
                "StatsUpdate",
            ),
            "virtumancer.services.importing": ("ImportResult", "import_vms"),
            "virtumancer.services.tokens": ("TokenService",),
            "virtumancer.spec_json": (
                "DISK_KINDS",
                "structure_spec",
                "structure_spec_part",
                "unstructure_spec",
            ),
            "virtumancer.sync": (
                "SyncHost",
                "connect",
            ),
            "virtumancer.tasks": (
                "TaskProgress",
                "TaskRegistry",
            ),
            "virtumancer.topology": (
                "Topology",
                "TopologyLayout",
                "build_topology",
                "layout_topology",
                "render_svg",
            ),
            "virtumancer.uri": (
                "UriPolicy",
                "check_uri",
                "default_key_dirs",
                "default_socket_dirs",
                "redact_uri",
            ),
        },
        reexport=("virtumancer.models",),
        eager=("__version__",),
    )
