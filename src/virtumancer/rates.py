"""Rates (CPU %, bytes per second) from two domain stats samples; pure."""

from __future__ import annotations

from virtumancer.models.domain import ACTIVE_DOMAIN_STATES
from virtumancer.models.stats import (
    DiskRates,
    DomainRates,
    DomainStatsSample,
    InterfaceRates,
)

__all__ = ["compute_rates"]

_NS_PER_S = 1_000_000_000


def _per_second(previous: int, current: int, interval_s: float) -> float:
    # A counter that went backwards was reset (guest restarted, device re-plugged): we
    # cannot know what happened in between, so the honest rate is "unknown", shown as 0.
    if current < previous:
        return 0.0
    return (current - previous) / interval_s


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

    previous_disks = {disk.device: disk for disk in previous.disks}
    disks = []
    for disk in current.disks:
        before = previous_disks.get(disk.device)
        if before is None:
            continue
        disks.append(
            DiskRates(
                device=disk.device,
                read_bps=_per_second(before.read_bytes, disk.read_bytes, interval_s),
                write_bps=_per_second(before.write_bytes, disk.write_bytes, interval_s),
                read_iops=_per_second(before.read_requests, disk.read_requests, interval_s),
                write_iops=_per_second(before.write_requests, disk.write_requests, interval_s),
            )
        )

    previous_interfaces = {nic.device: nic for nic in previous.interfaces}
    interfaces = []
    for nic in current.interfaces:
        before_nic = previous_interfaces.get(nic.device)
        if before_nic is None:
            continue
        interfaces.append(
            InterfaceRates(
                device=nic.device,
                rx_bps=_per_second(before_nic.rx_bytes, nic.rx_bytes, interval_s),
                tx_bps=_per_second(before_nic.tx_bytes, nic.tx_bytes, interval_s),
                rx_pps=_per_second(before_nic.rx_packets, nic.rx_packets, interval_s),
                tx_pps=_per_second(before_nic.tx_packets, nic.tx_packets, interval_s),
            )
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
