"""Domain statistics samples and the rates computed from two of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs

from virtumancer.models.domain import DomainState

__all__ = [
    "DiskRates",
    "DiskStats",
    "DomainRates",
    "DomainStatsSample",
    "InterfaceRates",
    "InterfaceStats",
    "parse_domain_stats",
]


@attrs.frozen(kw_only=True)
class DiskStats:
    """Cumulative I/O counters of one disk (``block.N.*``)."""

    device: str
    read_bytes: int = 0
    write_bytes: int = 0
    read_requests: int = 0
    write_requests: int = 0


@attrs.frozen(kw_only=True)
class InterfaceStats:
    """Cumulative traffic counters of one interface (``net.N.*``), as the host sees them."""

    device: str
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0


@attrs.frozen(kw_only=True)
class DomainStatsSample:
    """One sample of a domain's counters.

    ``timestamp_ns`` is a monotonic clock reading (only differences mean something; used for
    rates); ``wallclock`` is the UTC time of the sample. Memory is exact bytes, CPU time is
    nanoseconds.
    """

    domain_uuid: str
    domain_name: str
    timestamp_ns: int
    wallclock: dt.datetime
    state: DomainState
    memory_bytes: int = 0
    max_memory_bytes: int = 0
    vcpus: int = 0
    cpu_time_ns: int = 0
    disks: tuple[DiskStats, ...] = ()
    interfaces: tuple[InterfaceStats, ...] = ()


@attrs.frozen(kw_only=True)
class DiskRates:
    """Bytes and requests per second of one disk."""

    device: str
    read_bps: float = 0.0
    write_bps: float = 0.0
    read_iops: float = 0.0
    write_iops: float = 0.0


@attrs.frozen(kw_only=True)
class InterfaceRates:
    """Bytes and packets per second of one interface."""

    device: str
    rx_bps: float = 0.0
    tx_bps: float = 0.0
    rx_pps: float = 0.0
    tx_pps: float = 0.0


@attrs.frozen(kw_only=True)
class DomainRates:
    """Rates between two samples of one domain.

    ``cpu_percent`` is of the whole guest: 100.0 means all of its vcpus were busy for the
    whole interval (so it never exceeds 100 for a steady guest, whatever its vcpu count).
    Byte rates are bytes per second, summed over the devices present in both samples.
    ``interval_s`` is the time between the samples.
    """

    interval_s: float
    cpu_percent: float = 0.0
    disk_read_bps: float = 0.0
    disk_write_bps: float = 0.0
    net_rx_bps: float = 0.0
    net_tx_bps: float = 0.0
    disks: tuple[DiskRates, ...] = ()
    interfaces: tuple[InterfaceRates, ...] = ()


def _number(value: object, default: int) -> int:
    """Return ``value`` as an int: ``default`` if it is missing, boolean or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    try:
        return int(value)
    except (OverflowError, ValueError):  # inf, nan
        return default


# parse_domain_stats() runs once per domain per bulk_stats() call, thousands of times a second
# on a big host, so it is written for speed: nearly every libvirt value is an int, checked
# inline (``type(v) is int``, which also rules out bools) with _number() only for the rest;
# states come from a dict, not the enum's constructor; device key strings are made once; and
# the frozen models are filled through their slots (see _slot_setters).
_STATES: dict[int, DomainState] = {state.value: state for state in DomainState}
_NOSTATE = DomainState.NOSTATE
_BLOCK_COUNTERS = ("rd.bytes", "wr.bytes", "rd.reqs", "wr.reqs")
_NET_COUNTERS = ("rx.bytes", "tx.bytes", "rx.pkts", "tx.pkts")
_KEYED_DEVICES = 32  # key strings made ahead for devices 0..31; more are made when met


def _device_keys(group: str, index: int, counters: tuple[str, ...]) -> tuple[str, ...]:
    prefix = f"{group}.{index}."
    return (prefix + "name", *(prefix + counter for counter in counters))


_BLOCK = (
    "block",
    _BLOCK_COUNTERS,
    tuple(_device_keys("block", i, _BLOCK_COUNTERS) for i in range(_KEYED_DEVICES)),
)
_NET = (
    "net",
    _NET_COUNTERS,
    tuple(_device_keys("net", i, _NET_COUNTERS) for i in range(_KEYED_DEVICES)),
)


def _slot_setters(
    cls: type, names: tuple[str, ...]
) -> tuple[Callable[[object, object], None], ...]:
    """Return the slot setters of ``cls``'s fields ``names``, checking nothing else runs on init.

    attrs' ``__init__`` of a frozen class stores each field through ``object.__setattr__``
    called by keyword; storing through the slot descriptors directly takes half the time and
    builds the same object -- as long as the class has exactly these fields (and slots: no
    cached hash) and no validator, converter or init hook. Checked here, at import, so a
    changed model fails loudly rather than being half-built.
    """
    fields = attrs.fields(cls)
    hooks = ("__attrs_pre_init__", "__attrs_post_init__", "__attrs_init__")
    if (
        tuple(field.name for field in fields) != names
        or set(getattr(cls, "__slots__", ())) - {"__weakref__"} != set(names)
        or any(field.validator or field.converter or field.on_setattr for field in fields)
        or any(hasattr(cls, hook) for hook in hooks)
        or any("__new__" in vars(base) for base in cls.__mro__[:-1])
    ):
        msg = f"{cls.__name__} changed: update its builder in virtumancer.models.stats"
        raise RuntimeError(msg)
    return tuple(cls.__dict__[name].__set__ for name in names)


_new = object.__new__
_Device = TypeVar("_Device", DiskStats, InterfaceStats)
# Each device's fields in the order of its counters (``_BLOCK_COUNTERS``, ``_NET_COUNTERS``).
_DISK_SETTERS = _slot_setters(
    DiskStats, ("device", "read_bytes", "write_bytes", "read_requests", "write_requests")
)
_INTERFACE_SETTERS = _slot_setters(
    InterfaceStats, ("device", "rx_bytes", "tx_bytes", "rx_packets", "tx_packets")
)
_s0, _s1, _s2, _s3, _s4, _s5, _s6, _s7, _s8, _s9, _s10 = _slot_setters(
    DomainStatsSample,
    (
        "domain_uuid",
        "domain_name",
        "timestamp_ns",
        "wallclock",
        "state",
        "memory_bytes",
        "max_memory_bytes",
        "vcpus",
        "cpu_time_ns",
        "disks",
        "interfaces",
    ),
)


def _counters(get: Callable[[str, int], object], keys: tuple[str, ...]) -> list[int]:
    values = []
    for key in keys[1:]:
        value = get(key, 0)
        values.append(value if type(value) is int else _number(value, 0))
    return values


def _devices(
    get: Callable[[str, int], object],
    count: int,
    cls: type[_Device],
    group: tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]],
    setters: tuple[Callable[[object, object], None], ...],
) -> tuple[_Device, ...]:
    """Read the devices ``<group>.0`` .. ``<group>.<count - 1>`` of a record (disks or NICs).

    ``group`` is ``(name, counters, keys made ahead)``; ``setters`` are the model's slot
    setters, its device name first and then one per counter.
    """
    if count <= 0:
        return ()
    name, counters, keyed = group
    set_device, set_0, set_1, set_2, set_3 = setters
    found = []
    for index in range(count):
        keys = keyed[index] if index < _KEYED_DEVICES else _device_keys(name, index, counters)
        device = get(keys[0], 0)
        if not isinstance(device, str):
            continue
        value_0, value_1, value_2, value_3 = _counters(get, keys)
        item = _new(cls)
        set_device(item, device)
        set_0(item, value_0)
        set_1(item, value_1)
        set_2(item, value_2)
        set_3(item, value_3)
        found.append(item)
    return tuple(found)


def parse_domain_stats(
    record: Mapping[str, object],
    *,
    uuid: str,
    name: str,
    timestamp_ns: int,
    wallclock: dt.datetime,
) -> DomainStatsSample:
    """Turn one ``getAllDomainStats()`` record dict into a sample.

    Missing keys (a shut-off domain has no ``balloon.current`` or ``block.N.rd.bytes``) read
    as zero; an unknown state number reads as ``NOSTATE``. ``balloon.*`` are KiB in libvirt
    and become bytes here.
    """
    get = record.get
    value = get("state.state", 0)
    state = _STATES.get(value if type(value) is int else _number(value, 0), _NOSTATE)
    max_memory_kib = get("balloon.maximum", 0)
    if type(max_memory_kib) is not int:
        max_memory_kib = _number(max_memory_kib, 0)
    memory_kib = get("balloon.current", max_memory_kib)
    if type(memory_kib) is not int:
        memory_kib = _number(memory_kib, max_memory_kib)
    vcpus = get("vcpu.current")
    if type(vcpus) is not int:
        value = get("vcpu.maximum", 0)
        vcpus = _number(vcpus, value if type(value) is int else _number(value, 0))
    cpu_time_ns = get("cpu.time", 0)
    if type(cpu_time_ns) is not int:
        cpu_time_ns = _number(cpu_time_ns, 0)
    # A count can be no larger than the record (each device has at least a name): never
    # trust it to bound a loop.
    disk_count = get("block.count", 0)
    if type(disk_count) is not int:
        disk_count = _number(disk_count, 0)
    net_count = get("net.count", 0)
    if type(net_count) is not int:
        net_count = _number(net_count, 0)

    sample = _new(DomainStatsSample)
    _s0(sample, uuid)
    _s1(sample, name)
    _s2(sample, timestamp_ns)
    _s3(sample, wallclock)
    _s4(sample, state)
    _s5(sample, memory_kib * 1024)
    _s6(sample, max_memory_kib * 1024)
    _s7(sample, vcpus)
    _s8(sample, cpu_time_ns)
    size = len(record)
    _s9(sample, _devices(get, min(disk_count, size), DiskStats, _BLOCK, _DISK_SETTERS))
    _s10(sample, _devices(get, min(net_count, size), InterfaceStats, _NET, _INTERFACE_SETTERS))
    return sample
