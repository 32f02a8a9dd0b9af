"""compute_rates turns two samples into CPU % and bytes per second."""

from __future__ import annotations

import datetime as dt

import attrs
from hypothesis import given, settings

from tests.unit import model_strategies as ms
from virtumancer.models import DiskStats, DomainState, DomainStatsSample, InterfaceStats
from virtumancer.rates import compute_rates

SECOND = 1_000_000_000


def sample(
    *,
    at_s: float,
    cpu_s: float = 0.0,
    vcpus: int = 1,
    disks: tuple[DiskStats, ...] = (),
    interfaces: tuple[InterfaceStats, ...] = (),
) -> DomainStatsSample:
    return DomainStatsSample(
        domain_uuid="u",
        domain_name="vm",
        timestamp_ns=int(at_s * SECOND),
        wallclock=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        state=DomainState.RUNNING,
        vcpus=vcpus,
        cpu_time_ns=int(cpu_s * SECOND),
        disks=disks,
        interfaces=interfaces,
    )


def test_one_busy_vcpu_of_two_is_fifty_percent() -> None:
    rates = compute_rates(sample(at_s=10, cpu_s=5, vcpus=2), sample(at_s=12, cpu_s=7, vcpus=2))
    assert rates.cpu_percent == 50.0
    assert rates.interval_s == 2.0


def test_byte_rates_sum_devices() -> None:
    before = sample(
        at_s=0,
        disks=(DiskStats(device="vda", read_bytes=0), DiskStats(device="vdb", write_bytes=0)),
        interfaces=(InterfaceStats(device="vnet0", rx_bytes=0, tx_bytes=0),),
    )
    after = sample(
        at_s=2,
        disks=(
            DiskStats(device="vda", read_bytes=2000, read_requests=4),
            DiskStats(device="vdb", write_bytes=4000),
        ),
        interfaces=(InterfaceStats(device="vnet0", rx_bytes=600, tx_bytes=200, rx_packets=2),),
    )
    rates = compute_rates(before, after)
    assert rates.disk_read_bps == 1000.0
    assert rates.disk_write_bps == 2000.0
    assert rates.net_rx_bps == 300.0
    assert rates.net_tx_bps == 100.0
    assert rates.disks[0].read_iops == 2.0
    assert rates.interfaces[0].rx_pps == 1.0


def test_zero_or_backwards_interval_gives_zero_rates() -> None:
    for at_s in (5, 4):
        rates = compute_rates(sample(at_s=5, cpu_s=0), sample(at_s=at_s, cpu_s=9))
        assert rates.cpu_percent == 0.0
        assert rates.interval_s == 0.0


def test_counter_reset_reads_as_zero_not_negative() -> None:
    before = sample(at_s=0, cpu_s=100, disks=(DiskStats(device="vda", read_bytes=10**9),))
    after = sample(at_s=1, cpu_s=1, disks=(DiskStats(device="vda", read_bytes=10),))
    rates = compute_rates(before, after)
    assert rates.cpu_percent == 0.0
    assert rates.disk_read_bps == 0.0


def test_devices_appearing_or_disappearing_are_left_out() -> None:
    before = sample(at_s=0, disks=(DiskStats(device="vda"), DiskStats(device="gone")))
    after = sample(
        at_s=1,
        disks=(DiskStats(device="vda", read_bytes=5), DiskStats(device="new", read_bytes=10**12)),
    )
    rates = compute_rates(before, after)
    assert [d.device for d in rates.disks] == ["vda"]
    assert rates.disk_read_bps == 5.0


def test_cpu_percent_is_clamped() -> None:
    rates = compute_rates(sample(at_s=0, cpu_s=0), sample(at_s=1, cpu_s=3))
    assert rates.cpu_percent == 100.0


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.stats_samples, ms.stats_samples)
def test_rates_are_never_negative(first: DomainStatsSample, second: DomainStatsSample) -> None:
    second = attrs.evolve(second, domain_uuid=first.domain_uuid)
    rates = compute_rates(first, second)
    assert 0.0 <= rates.cpu_percent <= 100.0
    for value in (
        rates.disk_read_bps,
        rates.disk_write_bps,
        rates.net_rx_bps,
        rates.net_tx_bps,
    ):
        assert value >= 0.0


def test_a_domain_that_stopped_has_no_rates() -> None:
    # After a destroy libvirt reports a cpu.time unrelated to the run: no 100 % spike.
    running = sample(at_s=0, cpu_s=4.5)
    stopped = attrs.evolve(sample(at_s=2, cpu_s=507.9), state=DomainState.SHUTOFF)
    rates = compute_rates(running, stopped)
    assert (rates.cpu_percent, rates.interval_s) == (0.0, 2.0)
    assert compute_rates(stopped, attrs.evolve(running, timestamp_ns=3 * SECOND)).cpu_percent == 0
