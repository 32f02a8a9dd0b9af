"""JSON shapes of the API: the hardware view, stats messages, and round trips."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import cattrs
import pytest
from hypothesis import given, settings

from tests.unit import model_strategies as ms
from virtumancer._xml import parse_domain
from virtumancer.converters import make_converter, stats_payload
from virtumancer.models import (
    DiskStats,
    Domain,
    DomainDevices,
    DomainRates,
    DomainState,
    DomainStatsSample,
    InterfaceStats,
    StoragePool,
    VirtumancerMetadata,
)
from virtumancer.rates import compute_rates

DATA = Path(__file__).parent.parent / "data" / "xml"


def _json_round_trip(value: object, cls: type) -> object:
    converter = make_converter()
    text = json.dumps(converter.unstructure(value))
    return converter.structure(json.loads(text), cls)


def test_converters_are_private_instances() -> None:
    assert make_converter() is not make_converter()


def test_hardware_view_has_the_documented_shape() -> None:
    domain = parse_domain((DATA / "domain" / "kvm-full-inactive.xml").read_bytes())
    hardware = make_converter().unstructure(domain.devices)
    disk = hardware["disks"][0]
    assert disk["type"] == "file"
    assert disk["device"] == "disk"
    assert disk["driver"] == {"driver_name": "qemu", "type": "qcow2"}
    assert disk["path"] == "/var/lib/libvirt/images/vmt-golden-full.qcow2"
    assert disk["target"] == {"dev": "vda", "bus": "virtio"}
    assert "size_bytes" in disk
    network = hardware["networks"][1]
    assert network["type"] == "network"
    assert network["mac"] == {"address": "52:54:00:aa:00:02"}
    assert network["source"]["network"] == "vmt-golden-net"
    assert network["source"]["portgroup"] == "vlan100"
    assert network["model"] == {"model_type": "e1000"}
    assert hardware["networks"][2]["vlan_tags"] == [100, 200]
    assert hardware["networks"][2]["source"]["bridge"] == "br0"
    assert hardware["graphics"][0]["type"] == "vnc"
    assert hardware["videos"][0]["model"] == "qxl"
    assert hardware["hostdevs"][0]["pci_address"] == {
        "domain": 0,
        "bus": 0,
        "slot": 4,
        "function": 0,
    }
    assert {c["type"] for c in hardware["controllers"]} >= {"usb", "sata"}
    json.dumps(hardware)


def test_hardware_view_structures_back_from_api_json() -> None:
    payload = {
        "disks": [
            {
                "type": "file",
                "device": "disk",
                "driver": {"driver_name": "qemu", "type": "qcow2"},
                "path": "/path/to/disk.qcow2",
                "target": {"dev": "vda", "bus": "virtio"},
                "size_bytes": 21474836480,
            }
        ],
        "networks": [
            {
                "type": "bridge",
                "mac": {"address": "52:54:00:11:22:33"},
                "source": {"bridge": "br0", "portgroup": "vlan100"},
                "model": {"model_type": "virtio"},
            }
        ],
    }
    devices = make_converter().structure(payload, DomainDevices)
    assert devices.disks[0].driver_type == "qcow2"
    assert devices.disks[0].size_bytes == 21474836480
    assert devices.interfaces[0].source_portgroup == "vlan100"
    assert devices.interfaces[0].model == "virtio"


def test_bad_hardware_json_gives_readable_errors() -> None:
    with pytest.raises(cattrs.BaseValidationError) as info:
        make_converter().structure({"disks": [{"type": "file", "target": {}}]}, DomainDevices)
    messages = cattrs.transform_error(info.value)
    assert any("target_dev" in message for message in messages)


def test_datetimes_are_iso_utc_with_z() -> None:
    metadata = VirtumancerMetadata(
        managed_by="virtumancer",
        imported_at=dt.datetime(2023, 10, 27, 12, 0, tzinfo=dt.UTC),
        version="0.1.0",
    )
    assert make_converter().unstructure(metadata)["imported_at"] == "2023-10-27T12:00:00Z"


def test_enums_are_values_and_tuples_lists() -> None:
    domain = parse_domain((DATA / "domain" / "test-default.xml").read_bytes())
    data = make_converter().unstructure(attrs.evolve(domain, state=DomainState.PAUSED))
    assert data["state"] == 3
    assert isinstance(data["devices"]["disks"], list)


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.domains)
def test_domain_json_round_trip(domain: Domain) -> None:
    assert _json_round_trip(domain, Domain) == domain


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.domain_devices)
def test_hardware_view_json_round_trip(devices: DomainDevices) -> None:
    assert _json_round_trip(devices, DomainDevices) == devices


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.stats_samples)
def test_stats_sample_json_round_trip(sample: DomainStatsSample) -> None:
    assert _json_round_trip(sample, DomainStatsSample) == sample


def test_other_models_json_round_trip() -> None:
    pool = StoragePool(uuid="u", name="p", type="dir", state="running", capacity_bytes=10)
    assert _json_round_trip(pool, StoragePool) == pool


def _sample(timestamp_ns: int, cpu_time_ns: int, read: int, rx: int) -> DomainStatsSample:
    return DomainStatsSample(
        domain_uuid="u",
        domain_name="vm",
        timestamp_ns=timestamp_ns,
        wallclock=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        state=DomainState.RUNNING,
        memory_bytes=2 * 1024**3,
        max_memory_bytes=2 * 1024**3,
        vcpus=2,
        cpu_time_ns=cpu_time_ns,
        disks=(DiskStats(device="vda", read_bytes=read, write_bytes=2048, read_requests=3),),
        interfaces=(InterfaceStats(device="vnet0", rx_bytes=rx, tx_bytes=8192, rx_packets=4),),
    )


def test_stats_payload_matches_the_websocket_message() -> None:
    first = _sample(0, 1_000_000_000, 1024, 4096)
    payload = stats_payload(first, None)
    assert payload == {
        "state": 1,
        "memory": 2097152,
        "max_mem": 2097152,
        "vcpu": 2,
        "cpu_time": 1_000_000_000,
        "disk_stats": [
            {
                "device": "vda",
                "read_bytes": 1024,
                "write_bytes": 2048,
                "read_requests": 3,
                "write_requests": 0,
            }
        ],
        "net_stats": [
            {
                "device": "vnet0",
                "read_bytes": 4096,
                "write_bytes": 8192,
                "rx_packets": 4,
                "tx_packets": 0,
            }
        ],
        "rates": None,
    }
    json.dumps(payload)


def test_stats_payload_carries_rates() -> None:
    first = _sample(0, 0, 0, 0)
    second = _sample(1_000_000_000, 1_000_000_000, 1000, 500)
    rates = compute_rates(first, second)
    payload = stats_payload(second, rates)
    assert payload["rates"] == {
        "cpu_percent": 50.0,
        "disk_read_bps": 1000.0,
        "disk_write_bps": 0.0,
        "net_rx_bps": 500.0,
        "net_tx_bps": 0.0,
    }
    assert isinstance(rates, DomainRates)
