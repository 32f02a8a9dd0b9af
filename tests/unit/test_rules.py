"""The business rules, pure: activity-worthy changes, who owns a VM, NIC names, disk paths."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from virtumancer.models.devices import Disk, Interface
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.events import ConnectionState
from virtumancer.models.metadata import VirtumancerMetadata
from virtumancer.models.records import ActivityType
from virtumancer.rules import (
    MANAGED_BY,
    disk_path,
    host_state_activity,
    is_managed_by_us,
    nic_names,
    state_activity,
)

S = DomainState


@pytest.mark.parametrize(
    ("old", "new", "hint", "expected"),
    [
        (S.SHUTOFF, S.RUNNING, None, (ActivityType.VM_STARTED, "started")),
        (S.RUNNING, S.SHUTOFF, None, (ActivityType.VM_STOPPED, "stopped")),
        (S.RUNNING, S.PAUSED, None, (ActivityType.VM_SUSPENDED, "suspended")),
        (S.PAUSED, S.RUNNING, None, (ActivityType.VM_RESUMED, "resumed")),
        (S.PMSUSPENDED, S.BLOCKED, None, (ActivityType.VM_RESUMED, "resumed")),
        (S.RUNNING, S.CRASHED, None, (ActivityType.VM_CRASHED, "crashed")),
        (S.RUNNING, S.SHUTOFF, ActivityType.VM_CRASHED, (ActivityType.VM_CRASHED, "crashed")),
        (S.SHUTOFF, S.BLOCKED, None, (ActivityType.VM_STARTED, "started")),
        # moves within one family, and no change, earn nothing
        (S.RUNNING, S.RUNNING, None, None),
        (S.RUNNING, S.BLOCKED, None, None),
        (S.PAUSED, S.PMSUSPENDED, None, None),
        (S.SHUTDOWN, S.SHUTOFF, None, None),
        (S.SHUTOFF, S.SHUTDOWN, ActivityType.VM_CRASHED, None),
        (S.RUNNING, S.NOSTATE, None, None),
        (S.RUNNING, 99, None, None),  # a state libvirt may add later
    ],
)
def test_state_activity(
    old: int, new: int, hint: str | None, expected: tuple[str, str] | None
) -> None:
    assert state_activity(old, new, hint) == expected


@pytest.mark.parametrize(
    ("previous", "state", "error", "expected"),
    [
        (None, ConnectionState.CONNECTED, None, (ActivityType.HOST_CONNECTED, "Host h connected")),
        (
            ConnectionState.CONNECTED,
            ConnectionState.DISCONNECTED,
            None,
            (ActivityType.HOST_DISCONNECTED, "Host h disconnected"),
        ),
        (None, ConnectionState.DISCONNECTED, None, None),  # a host restored disconnected
        (
            ConnectionState.CONNECTED,
            ConnectionState.ERROR,
            "eof",
            (ActivityType.HOST_LOST, "Connection to host h lost: eof"),
        ),
        (
            ConnectionState.CONNECTED,
            ConnectionState.ERROR,
            None,
            (ActivityType.HOST_LOST, "Connection to host h lost"),
        ),
        (ConnectionState.CONNECTING, ConnectionState.ERROR, "refused", None),  # a retry
        (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING, None, None),
    ],
)
def test_host_state_activity(
    previous: ConnectionState | None,
    state: ConnectionState,
    error: str | None,
    expected: tuple[str, str] | None,
) -> None:
    assert host_state_activity("h", previous, state, error) == expected


def _metadata(managed_by: str) -> VirtumancerMetadata:
    return VirtumancerMetadata(
        managed_by=managed_by,
        imported_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        imported_by="here",
        version="1",
    )


def test_a_vm_is_ours_only_with_our_provenance() -> None:
    domain = Domain(
        name="d",
        uuid="00000000-0000-0000-0000-000000000001",
        domain_type="kvm",
        vcpus=1,
        memory_bytes=1 << 20,
        current_memory_bytes=1 << 20,
        os_type="hvm",
    )
    assert not is_managed_by_us(domain)
    assert is_managed_by_us(attrs.evolve(domain, metadata=_metadata(MANAGED_BY)))
    assert not is_managed_by_us(attrs.evolve(domain, metadata=_metadata("someone-else")))


def test_nic_names_follow_xml_order_and_skip_missing_or_repeated_macs() -> None:
    nics = [
        Interface(type="network", mac="52:54:00:AA:00:01"),
        Interface(type="network", mac=None),
        Interface(type="bridge", mac="52:54:00:aa:00:01"),  # the same MAC, other case
        Interface(type="ethernet", mac="52:54:00:aa:00:03"),
    ]
    named = nic_names(nics)
    assert list(named) == ["eth0", "eth3"]
    assert named["eth3"] is nics[3]


@pytest.mark.parametrize(
    ("disk", "expected"),
    [
        (Disk(type="file", target_dev="vda", source_path="/img/a.qcow2"), "/img/a.qcow2"),
        (Disk(type="block", target_dev="vdb", source_path="/dev/sdb"), "/dev/sdb"),
        (
            Disk(type="volume", target_dev="vdc", source_pool="p", source_volume="v"),
            "p/v",
        ),
        (Disk(type="network", target_dev="vdd", source_name="rbd/img"), "rbd/img"),
        (Disk(type="file", device="cdrom", target_dev="sda"), None),
    ],
)
def test_disk_path(disk: Disk, expected: str | None) -> None:
    assert disk_path(disk) == expected
