"""The tiny real Linux guest: it answers ACPI, reboots, and cooperates in device unplug.

Guests without an OS ignore the power button and never release a device, so these are the
tests that show graceful shutdown, reboot and hot-unplug really complete.
"""

from __future__ import annotations

import subprocess

import pytest

import virtumancer
from tests.conftest import (
    IMAGES_DIR,
    LinuxGuest,
    LinuxGuestFactory,
    wait_for_serial,
    wait_until,
)
from virtumancer import DomainState
from virtumancer.testing import LINUX_GUEST_BANNER, virsh

pytestmark = [pytest.mark.libvirt, pytest.mark.linux]


def test_boots_to_its_banner_with_disk_and_nic(linux_guest: LinuxGuest) -> None:
    log = linux_guest.serial()
    assert log.count(LINUX_GUEST_BANNER) == 1
    banner = next(line for line in log.splitlines() if line.startswith(LINUX_GUEST_BANNER))
    # init lists the disks it saw and the NICs it brought up.
    assert "disks=vda" in banner
    assert "nics=eth0" in banner
    assert linux_guest.state() == "running"
    # The same consoles as the OS-less guests.
    assert virsh(linux_guest.uri, "domdisplay", "--type", "vnc", linux_guest.name).startswith(
        "vnc://127.0.0.1:"
    )


def test_virsh_shutdown_powers_it_off(linux_guest: LinuxGuest) -> None:
    virsh(linux_guest.uri, "shutdown", linux_guest.name)
    wait_until(lambda: linux_guest.state() == "shut off", "the guest to power off")
    assert "power button, powering off" in linux_guest.serial()


def test_virsh_reboot_boots_it_again(linux_guest: LinuxGuest) -> None:
    virsh(linux_guest.uri, "reboot", linux_guest.name)
    log = wait_for_serial(linux_guest, LINUX_GUEST_BANNER, count=2)
    assert "power button, powering off" in log
    # libvirt turned the guest's power-off into a reset: the same domain keeps running.
    assert linux_guest.state() == "running"


def _live_targets(guest: LinuxGuest) -> list[str]:
    rows = virsh(guest.uri, "domblklist", guest.name).splitlines()
    return [row.split()[0] for row in rows if row.strip()]


def test_hot_plugged_disk_is_seen_and_really_unplugged(linux_guest: LinuxGuest) -> None:
    extra = IMAGES_DIR / f"{linux_guest.name}-extra.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(extra), "16M"],
        check=True,
        capture_output=True,
    )
    virsh(
        linux_guest.uri,
        "attach-disk",
        linux_guest.name,
        str(extra),
        "vdb",
        "--live",
        "--driver",
        "qemu",
        "--subdriver",
        "qcow2",
        "--targetbus",
        "virtio",
    )
    wait_for_serial(linux_guest, "virtumancer-guest: block add vdb")
    assert _live_targets(linux_guest) == ["vda", "vdb"]

    # Unplug needs the guest: it ejects the PCI slot through ACPI, then QEMU reports the
    # device deleted and libvirt drops it from the live XML. virsh may return before that.
    virsh(linux_guest.uri, "detach-disk", linux_guest.name, "vdb", "--live")
    wait_for_serial(linux_guest, "virtumancer-guest: block remove vdb")
    wait_until(lambda: _live_targets(linux_guest) == ["vda"], "libvirt to drop vdb")
    assert "vdb" not in virsh(linux_guest.uri, "dumpxml", linux_guest.name)
    assert linux_guest.state() == "running"


def test_library_shutdown_reaches_shutoff(linux_guest_factory: LinuxGuestFactory) -> None:
    guest = linux_guest_factory()
    with virtumancer.connect(guest.uri) as host:
        assert host.domain(guest.name).state is DomainState.RUNNING
        host.shutdown(guest.name)
        wait_until(
            lambda: host.domain(guest.name).state is DomainState.SHUTOFF,
            "the library to see the guest shut off",
        )
    assert guest.state() == "shut off"


def test_start_again_after_shutdown(linux_guest: LinuxGuest) -> None:
    virsh(linux_guest.uri, "shutdown", linux_guest.name)
    wait_until(lambda: linux_guest.state() == "shut off", "the guest to power off")
    virsh(linux_guest.uri, "start", linux_guest.name)
    # A new QEMU process truncates the log: exactly one banner again.
    log = wait_for_serial(linux_guest, LINUX_GUEST_BANNER)
    assert log.count(LINUX_GUEST_BANNER) == 1
