"""The test bed itself: real guests, the test driver through the daemon, qemu+ssh."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Guest, GuestFactory, NodeFactory
from virtumancer.testing import virsh

pytestmark = pytest.mark.libvirt


@pytest.mark.kvm
def test_kvm_guest_starts_and_stops_as_virsh_sees_it(kvm_guest_factory: GuestFactory) -> None:
    guest = kvm_guest_factory(start=False)
    assert guest.state() == "shut off"
    virsh(guest.uri, "start", guest.name)
    assert guest.state() == "running"
    # A real VNC server answers on the port libvirt allocated.
    display = virsh(guest.uri, "domdisplay", "--type", "vnc", guest.name).strip()
    assert display.startswith("vnc://127.0.0.1:")
    virsh(guest.uri, "destroy", guest.name)
    assert guest.state() == "shut off"


@pytest.mark.kvm
def test_kvm_guest_has_a_tap_interface_with_stats(kvm_guest: Guest) -> None:
    interfaces = virsh(kvm_guest.uri, "domiflist", kvm_guest.name)
    tap = interfaces.split()[0]
    stats = virsh(kvm_guest.uri, "domifstat", kvm_guest.name, tap)
    assert "rx_bytes" in stats


def test_test_driver_through_the_daemon(test_node_factory: NodeFactory, libvirtd: str) -> None:
    node = test_node_factory(domains=25, running=5)
    names = virsh(f"test+unix://{node}", "list", "--all", "--name").split()
    assert len(names) == 25
    running = virsh(f"test+unix://{node}", "list", "--name").split()
    assert len(running) == 5
    pools = virsh(f"test+unix://{node}", "pool-list", "--all", "--name").split()
    assert len(pools) == 2


def test_large_test_node_in_process(test_node_factory: NodeFactory) -> None:
    node: Path = test_node_factory(domains=1000, pools=3, volumes_per_pool=10, networks=4)
    names = virsh(f"test://{node}", "list", "--all", "--name").split()
    assert len(names) == 1000


@pytest.mark.ssh
@pytest.mark.kvm
def test_qemu_ssh_sees_the_same_guest(ssh_uri: str, kvm_guest: Guest) -> None:
    assert virsh(ssh_uri, "domstate", kvm_guest.name).strip() == "running"
    virsh(ssh_uri, "suspend", kvm_guest.name)
    assert kvm_guest.state() == "paused"
    virsh(ssh_uri, "resume", kvm_guest.name)
    assert kvm_guest.state() == "running"


@pytest.mark.postgres
def test_postgres_cluster_answers(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute("select current_setting('server_version_num')::int").fetchone()
    assert row is not None
    assert row[0] >= 150000
