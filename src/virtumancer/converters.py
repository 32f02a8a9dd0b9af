"""cattrs converters giving the JSON shapes of Virtumancer's documented API.

Make a private converter with :func:`make_converter`; models have no ``to_json``. The
converter produces what ``json.dumps`` accepts: datetimes as ISO 8601 UTC with ``Z``, enums
as their values, tuples as lists. :class:`~virtumancer.models.DomainDevices` unstructures to
the API's "hardware" view (``disks[].driver.driver_name``, ``networks[].source.portgroup``,
``networks[].model.model_type`` ...) and structures back from it; structuring errors are
``cattrs`` exception groups, ready for :func:`cattrs.transform_error`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter as make_json_converter

from virtumancer.models.devices import Disk, Interface
from virtumancer.models.domain import DomainDevices
from virtumancer.models.host import HostInfo
from virtumancer.models.records import HostRecord, VmRecord
from virtumancer.models.status import StatusCategory
from virtumancer.models.tasks import Task
from virtumancer.topology import TopologyLayout

if TYPE_CHECKING:
    # Only named in signatures: a caller that converts no stats (an Ansible task) skips them.
    from virtumancer.models.stats import DomainRates, DomainStatsSample
    from virtumancer.topology import PlacedNode

__all__ = [
    "COMPUTED_FIELDS",
    "RENAMED_FIELDS",
    "WS_MEMORY_UNIT",
    "host_info_payload",
    "make_converter",
    "stats_payload",
    "to_ws_memory",
    "topology_payload",
]

#: Model fields that appear in JSON under another name (class -> field -> JSON key). The
#: converter applies them and the OpenAPI generator reads them, so both agree.
RENAMED_FIELDS: Final[Mapping[type, Mapping[str, str]]] = {
    # The hardware view calls interfaces "networks".
    DomainDevices: {"interfaces": "networks"},
}

#: JSON keys the converter adds to a model beside its fields (class -> key -> type): each is
#: the model's attribute of that name. The OpenAPI generator reads this too.
COMPUTED_FIELDS: Final[Mapping[type, Mapping[str, type]]] = {
    HostRecord: {"status": StatusCategory},
    VmRecord: {"status": StatusCategory},
    Task: {"finished": bool},
}

#: The unit of memory in WebSocket stats messages (REST sends bytes, as ``*_bytes`` says).
WS_MEMORY_UNIT: Final = "KiB"


def _format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_datetime(value: object, _: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


#: Where each field of a :class:`Disk` stands in the hardware view (field, JSON path):
#: declared once, for both directions. Fields left out of a document keep their defaults.
_DISK_JSON: Final = (
    ("type", ("type",)),
    ("device", ("device",)),
    ("driver_name", ("driver", "driver_name")),
    ("driver_type", ("driver", "type")),
    ("source_path", ("path",)),
    ("source_pool", ("source", "pool")),
    ("source_volume", ("source", "volume")),
    ("source_protocol", ("source", "protocol")),
    ("source_name", ("source", "name")),
    ("target_dev", ("target", "dev")),
    ("target_bus", ("target", "bus")),
    ("read_only", ("read_only",)),
    ("shareable", ("shareable",)),
    ("serial", ("serial",)),
    ("size_bytes", ("size_bytes",)),
)
#: The same for an :class:`Interface` (the hardware view's ``networks[]``).
_INTERFACE_JSON: Final = (
    ("type", ("type",)),
    ("mac", ("mac", "address")),
    ("source_network", ("source", "network")),
    ("source_bridge", ("source", "bridge")),
    ("source_portgroup", ("source", "portgroup")),
    ("source_dev", ("source", "dev")),
    ("model", ("model", "model_type")),
    ("target_dev", ("target", "dev")),
    ("vlan_tags", ("vlan_tags",)),
    ("alias", ("alias",)),
)

_Flat = TypeVar("_Flat")


def _nested_hooks(
    converter: cattrs.Converter,
    cls: type[_Flat],
    layout: tuple[tuple[str, tuple[str, ...]], ...],
    what: str,
) -> tuple[Callable[[_Flat], dict[str, Any]], Callable[[Any, type], _Flat]]:
    """Make the hooks between a flat model and its nested JSON, as ``layout`` places fields."""
    flat_structure = make_dict_structure_fn(cls, converter)

    def unstructure(model: _Flat) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for field, (*sections, key) in layout:
            into = data
            for section in sections:
                into = into.setdefault(section, {})
            value = getattr(model, field)
            into[key] = list(value) if isinstance(value, tuple) else value
        return data

    def structure(data: Any, cls: type) -> _Flat:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object for {what}, got {type(data).__name__}")
        flat: dict[str, Any] = {}
        for field, (*sections, key) in layout:
            found: Mapping[str, Any] = data
            for section in sections:
                found = _section(found, section)
            if (value := found.get(key)) is not None:
                flat[field] = value
        return flat_structure(flat, cls)

    return unstructure, structure


def make_converter() -> cattrs.Converter:
    """Make a fresh converter for the API's JSON shapes (a new private instance per call)."""
    converter = make_json_converter(unstruct_collection_overrides={tuple: list})
    converter.register_unstructure_hook(dt.datetime, _format_datetime)
    converter.register_structure_hook(dt.datetime, _parse_datetime)

    for flat_cls, layout, what in (
        (Disk, _DISK_JSON, "a disk"),
        (Interface, _INTERFACE_JSON, "a network"),
    ):
        unstructure, structure = _nested_hooks(converter, flat_cls, layout, what)
        converter.register_unstructure_hook(flat_cls, unstructure)
        converter.register_structure_hook(flat_cls, structure)

    # Hook factories, not hooks: cattrs generates a class's code on its first use, so a
    # one-shot caller (an Ansible task) pays only for the classes it converts.
    # Records carry their status category next to the raw state the document defines.
    for cls, computed in COMPUTED_FIELDS.items():
        converter.register_unstructure_hook_factory(
            _exactly(cls), functools.partial(_with_computed, converter, computed=computed)
        )
    converter.register_unstructure_hook(TopologyLayout, topology_payload)

    for cls, renames in RENAMED_FIELDS.items():
        overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
        converter.register_unstructure_hook_factory(
            _exactly(cls),
            functools.partial(make_dict_unstructure_fn, converter=converter, **overrides),
        )
        converter.register_structure_hook_factory(
            _exactly(cls),
            functools.partial(make_dict_structure_fn, converter=converter, **overrides),
        )
    return converter


def _exactly(cls: type) -> Callable[[Any], bool]:
    return lambda candidate: candidate is cls


def _with_computed(
    converter: cattrs.Converter, cls: type, *, computed: Mapping[str, type]
) -> Callable[[Any], dict[str, Any]]:
    plain: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, converter)

    def unstructure(record: Any) -> dict[str, Any]:
        data = plain(record)
        for key in computed:
            data[key] = converter.unstructure(getattr(record, key))
        return data

    return unstructure


def _coordinate(value: float) -> float:
    # A tenth of a user unit is finer than a pixel; it keeps the JSON short.
    return round(value, 1)


def _node(node: PlacedNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "host_id": node.host_id,
        "label": node.label,
        "status": node.status.value,
        "color": node.status.color,
        "x": _coordinate(node.x),
        "y": _coordinate(node.y),
        "r": _coordinate(node.r),
        "label_x": _coordinate(node.label_x),
        "label_y": _coordinate(node.label_y),
        "label_anchor": node.label_anchor,
    }


def _counts(nodes: tuple[PlacedNode, ...]) -> dict[str, int]:
    counts = {status.value: 0 for status in StatusCategory}
    for node in nodes:
        counts[node.status.value] += 1
    return {"total": len(nodes), **counts}


def topology_payload(layout: TopologyLayout) -> dict[str, Any]:
    """Build the ``GET /api/v1/topology`` object: everything the browser draws, computed.

    ``hosts``/``vms`` are placed nodes (centre ``x``/``y``, radius ``r``, label position,
    ``status`` and its ``color``); ``links`` join a host id to a VM id (``host/vm``);
    ``summary`` counts nodes per status category; ``legend`` lists every category with its
    label and colour, in the order to show them.
    """
    return {
        "width": _coordinate(layout.width),
        "height": _coordinate(layout.height),
        "hosts": [_node(node) for node in layout.hosts],
        "vms": [_node(node) for node in layout.vms],
        "links": [{"source": source, "target": target} for source, target in layout.links],
        "summary": {"hosts": _counts(layout.hosts), "vms": _counts(layout.vms)},
        "legend": [
            {"status": status.value, "label": status.label, "color": status.color}
            for status in StatusCategory
        ],
    }


def to_ws_memory(value_bytes: int) -> int:
    """Convert bytes to the WebSocket's memory unit (:data:`WS_MEMORY_UNIT`): the one place."""
    return value_bytes // 1024


def stats_payload(sample: DomainStatsSample, rates: DomainRates | None) -> dict[str, Any]:
    """Build the ``stats`` object of a ``vm-stats-updated`` WebSocket message.

    ``memory``/``max_mem`` are KiB (as libvirt reports and the API example shows),
    ``cpu_time`` is nanoseconds; ``net_stats[].read_bytes`` is rx and ``write_bytes`` is tx
    (as the host sees the interface). ``rates`` is ``null`` for the first sample.
    """
    return {
        "state": int(sample.state),
        "memory": to_ws_memory(sample.memory_bytes),
        "max_mem": to_ws_memory(sample.max_memory_bytes),
        "vcpu": sample.vcpus,
        "cpu_time": sample.cpu_time_ns,
        "disk_stats": [
            {
                "device": disk.device,
                "read_bytes": disk.read_bytes,
                "write_bytes": disk.write_bytes,
                "read_requests": disk.read_requests,
                "write_requests": disk.write_requests,
            }
            for disk in sample.disks
        ],
        "net_stats": [
            {
                "device": nic.device,
                "read_bytes": nic.rx_bytes,
                "write_bytes": nic.tx_bytes,
                "rx_packets": nic.rx_packets,
                "tx_packets": nic.tx_packets,
            }
            for nic in sample.interfaces
        ],
        "rates": None
        if rates is None
        else {
            "cpu_percent": rates.cpu_percent,
            "disk_read_bps": rates.disk_read_bps,
            "disk_write_bps": rates.disk_write_bps,
            "net_rx_bps": rates.net_rx_bps,
            "net_tx_bps": rates.net_tx_bps,
        },
    }


def host_info_payload(info: HostInfo) -> dict[str, object]:
    """Build the API's flat ``/hosts/{id}/info`` object (documented fields first, then extras)."""
    node = info.node
    return {
        "hostname": node.hostname,
        "cpu": node.cpus,
        "memory": node.memory_bytes,
        "cores": node.cores,
        "threads": node.threads,
        "sockets": node.sockets,
        "nodes": node.nodes,
        "mhz": node.mhz,
        "cpu_model": node.cpu_model,
        "arch": info.capabilities.arch,
        "libvirt_version": info.libvirt_version,
        "hypervisor_type": info.hypervisor_type,
        "hypervisor_version": info.hypervisor_version,
    }
