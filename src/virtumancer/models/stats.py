"""Domain statistics samples and the rates computed from two of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

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


def _int(record: Mapping[str, object], key: str, default: int = 0) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _state(value: int) -> DomainState:
    try:
        return DomainState(value)
    except ValueError:
        return DomainState.NOSTATE


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
    disks = []
    for index in range(_int(record, "block.count")):
        prefix = f"block.{index}."
        device = record.get(prefix + "name")
        if not isinstance(device, str):
            continue
        disks.append(
            DiskStats(
                device=device,
                read_bytes=_int(record, prefix + "rd.bytes"),
                write_bytes=_int(record, prefix + "wr.bytes"),
                read_requests=_int(record, prefix + "rd.reqs"),
                write_requests=_int(record, prefix + "wr.reqs"),
            )
        )
    interfaces = []
    for index in range(_int(record, "net.count")):
        prefix = f"net.{index}."
        device = record.get(prefix + "name")
        if not isinstance(device, str):
            continue
        interfaces.append(
            InterfaceStats(
                device=device,
                rx_bytes=_int(record, prefix + "rx.bytes"),
                tx_bytes=_int(record, prefix + "tx.bytes"),
                rx_packets=_int(record, prefix + "rx.pkts"),
                tx_packets=_int(record, prefix + "tx.pkts"),
            )
        )
    max_memory_kib = _int(record, "balloon.maximum")
    return DomainStatsSample(
        domain_uuid=uuid,
        domain_name=name,
        timestamp_ns=timestamp_ns,
        wallclock=wallclock,
        state=_state(_int(record, "state.state")),
        memory_bytes=_int(record, "balloon.current", max_memory_kib) * 1024,
        max_memory_bytes=max_memory_kib * 1024,
        vcpus=_int(record, "vcpu.current", _int(record, "vcpu.maximum")),
        cpu_time_ns=_int(record, "cpu.time"),
        disks=tuple(disks),
        interfaces=tuple(interfaces),
    )
