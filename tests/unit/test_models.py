"""Models: immutability, node info, and getAllDomainStats records."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import pytest

from virtumancer._xml import node_info_from_libvirt
from virtumancer.models import (
    DomainState,
    NodeInfo,
    PciAddress,
    parse_domain_stats,
)

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)

# A record as getAllDomainStats() returns it for a running guest on qemu:///system.
RUNNING_RECORD: dict[str, object] = {
    "state.state": 1,
    "state.reason": 1,
    "cpu.time": 1234567890,
    "cpu.user": 100000000,
    "cpu.system": 200000000,
    "balloon.current": 2097152,
    "balloon.maximum": 2097152,
    "vcpu.current": 2,
    "vcpu.maximum": 2,
    "net.count": 1,
    "net.0.name": "vnet0",
    "net.0.rx.bytes": 4096,
    "net.0.rx.pkts": 10,
    "net.0.rx.errs": 0,
    "net.0.tx.bytes": 8192,
    "net.0.tx.pkts": 20,
    "block.count": 2,
    "block.0.name": "vda",
    "block.0.path": "/var/lib/libvirt/images/x.qcow2",
    "block.0.rd.reqs": 3,
    "block.0.rd.bytes": 1024,
    "block.0.wr.reqs": 4,
    "block.0.wr.bytes": 2048,
    "block.1.name": "sda",
}


def test_running_record_becomes_a_sample() -> None:
    sample = parse_domain_stats(RUNNING_RECORD, uuid="u", name="vm", timestamp_ns=5, wallclock=NOW)
    assert sample.state is DomainState.RUNNING
    assert sample.memory_bytes == 2 * 1024**3
    assert sample.max_memory_bytes == 2 * 1024**3
    assert sample.vcpus == 2
    assert sample.cpu_time_ns == 1234567890
    assert [(d.device, d.read_bytes, d.write_requests) for d in sample.disks] == [
        ("vda", 1024, 4),
        ("sda", 0, 0),
    ]
    (nic,) = sample.interfaces
    assert (nic.device, nic.rx_bytes, nic.tx_bytes, nic.rx_packets) == ("vnet0", 4096, 8192, 10)
    assert sample.timestamp_ns == 5
    assert sample.wallclock == NOW


def test_shut_off_record_reads_missing_counters_as_zero() -> None:
    sample = parse_domain_stats(
        {"state.state": 5, "state.reason": 0, "balloon.maximum": 1024, "vcpu.maximum": 1},
        uuid="u",
        name="vm",
        timestamp_ns=0,
        wallclock=NOW,
    )
    assert sample.state is DomainState.SHUTOFF
    assert sample.memory_bytes == 1024 * 1024
    assert sample.vcpus == 1
    assert sample.disks == ()
    assert sample.cpu_time_ns == 0


def test_unknown_state_and_garbage_values_do_not_crash() -> None:
    sample = parse_domain_stats(
        {"state.state": 42, "cpu.time": "lots", "block.count": 1, "block.0.name": 7},
        uuid="u",
        name="vm",
        timestamp_ns=0,
        wallclock=NOW,
    )
    assert sample.state is DomainState.NOSTATE
    assert sample.cpu_time_ns == 0
    assert sample.disks == ()


def test_node_info_from_get_info() -> None:
    info = node_info_from_libvirt(["x86_64", 7812, 2, 2400, 1, 1, 2, 1], "kvmsrv")
    assert info == NodeInfo(
        hostname="kvmsrv",
        cpu_model="x86_64",
        memory_bytes=7812 * 1024 * 1024,
        cpus=2,
        mhz=2400,
        nodes=1,
        sockets=1,
        cores=2,
        threads=1,
    )


def test_node_info_needs_the_whole_list() -> None:
    with pytest.raises(ValueError, match="8"):
        node_info_from_libvirt(["x86_64", 1], "h")


def test_models_are_frozen_and_keyword_only() -> None:
    address = PciAddress(domain=0, bus=1, slot=2, function=3)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        address.bus = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        PciAddress(0, 1, 2, 3)  # type: ignore[call-arg]
    assert str(address) == "0000:01:02.3"


def test_domain_state_mirrors_libvirt_numbers() -> None:
    assert [state.value for state in DomainState] == list(range(8))
    assert int(DomainState.PMSUSPENDED) == 7


def test_real_get_all_domain_stats_record() -> None:
    # Captured from a running guest on qemu:///system (tests/data/xml/capture.py).
    path = Path(__file__).parent.parent / "data" / "xml" / "stats" / "kvm-running.json"
    record = json.loads(path.read_text())
    sample = parse_domain_stats(record, uuid="u", name="vm", timestamp_ns=1, wallclock=NOW)
    assert sample.state is DomainState.RUNNING
    assert sample.memory_bytes == sample.max_memory_bytes == 64 * 1024 * 1024
    assert sample.vcpus == 1
    assert sample.cpu_time_ns == record["cpu.time"] > 0
    assert [disk.device for disk in sample.disks] == ["vda"]
    assert [nic.device for nic in sample.interfaces] == [record["net.0.name"]]
    assert sample.interfaces[0].rx_bytes == record["net.0.rx.bytes"]
