"""Rates (CPU %, bytes per second) from two domain stats samples; pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

from virtumancer.models.domain import ACTIVE_DOMAIN_STATES
from virtumancer.models.stats import (
    DiskRates,
    DiskStats,
    DomainRates,
    DomainStatsSample,
    InterfaceRates,
    InterfaceStats,
)

__all__ = ["compute_rates"]

_NS_PER_S = 1_000_000_000

#: Each rate of a disk and the counter it is the rate of.
_DISK_RATES: Final = {
    "read_bps": "read_bytes",
    "write_bps": "write_bytes",
    "read_iops": "read_requests",
    "write_iops": "write_requests",
}
#: Each rate of an interface and the counter it is the rate of.
_NIC_RATES: Final = {
    "rx_bps": "rx_bytes",
    "tx_bps": "tx_bytes",
    "rx_pps": "rx_packets",
    "tx_pps": "tx_packets",
}

_Counters = TypeVar("_Counters", DiskStats, InterfaceStats)
_Rates = TypeVar("_Rates", DiskRates, InterfaceRates)


def _per_second(previous: int, current: int, interval_s: float) -> float:
    # A counter that went backwards was reset (guest restarted, device re-plugged): we
    # cannot know what happened in between, so the honest rate is "unknown", shown as 0.
    if current < previous:
        return 0.0
    return (current - previous) / interval_s


def _device_rates(
    previous: Sequence[_Counters],
    current: Sequence[_Counters],
    rates: Callable[..., _Rates],
    counters: Mapping[str, str],
    interval_s: float,
) -> list[_Rates]:
    # Devices are matched by name; one in a single sample (hot-plugged, removed) is left out.
    before_by_device = {device.device: device for device in previous}
    return [
        rates(
            device=device.device,
            **{
                rate: _per_second(getattr(before, counter), getattr(device, counter), interval_s)
                for rate, counter in counters.items()
            },
        )
        for device in current
        if (before := before_by_device.get(device.device)) is not None
    ]


def compute_rates(previous: DomainStatsSample, current: DomainStatsSample) -> DomainRates:
    """Compute the rates between two samples of the same domain, ``previous`` first.

    A zero or negative interval gives all-zero rates. A counter that went down (a reset)
    counts as zero for that interval. Devices are matched by name; a device present in only
    one sample (hot-plugged or removed) is left out. ``cpu_percent`` is of the whole guest
    (100 = all of its vcpus busy), clamped to 0..100. Unless both samples are of an active
    domain (:data:`ACTIVE_DOMAIN_STATES`), every rate is zero.
    """
    interval_ns = current.timestamp_ns - previous.timestamp_ns
    if interval_ns <= 0:
        return DomainRates(interval_s=0.0)
    interval_s = interval_ns / _NS_PER_S
    if current.state not in ACTIVE_DOMAIN_STATES or previous.state not in ACTIVE_DOMAIN_STATES:
        # Counters of a domain that is not running are not the guest's: after a destroy
        # libvirt reports a cpu.time unrelated to the run before it.
        return DomainRates(interval_s=interval_s)

    cpu_percent = 0.0
    vcpus = current.vcpus or previous.vcpus
    if vcpus > 0 and current.cpu_time_ns >= previous.cpu_time_ns:
        busy = (current.cpu_time_ns - previous.cpu_time_ns) / (interval_ns * vcpus)
        cpu_percent = min(100.0, max(0.0, busy * 100.0))

    disks = _device_rates(previous.disks, current.disks, DiskRates, _DISK_RATES, interval_s)
    interfaces = _device_rates(
        previous.interfaces, current.interfaces, InterfaceRates, _NIC_RATES, interval_s
    )

    return DomainRates(
        interval_s=interval_s,
        cpu_percent=cpu_percent,
        disk_read_bps=sum(d.read_bps for d in disks),
        disk_write_bps=sum(d.write_bps for d in disks),
        net_rx_bps=sum(n.rx_bps for n in interfaces),
        net_tx_bps=sum(n.tx_bps for n in interfaces),
        disks=tuple(disks),
        interfaces=tuple(interfaces),
    )
