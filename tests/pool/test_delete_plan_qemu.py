"""The delete plan on a real QEMU host: a UEFI guest's NVRAM file is named (the test driver
has no NVRAM), then the delete removes the definition with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import virtumancer
from virtumancer import SyncHost
from virtumancer.testing import virsh

from ..conftest import QEMU_URI, _remove_guest

pytestmark = [pytest.mark.kvm]


@pytest.fixture
def host(libvirtd: str) -> Iterator[SyncHost]:
    with virtumancer.connect(QEMU_URI) as connected:
        yield connected


def test_the_plan_of_a_uefi_guest_names_its_nvram_and_changes_nothing(
    host: SyncHost, run_prefix: str
) -> None:
    name = f"{run_prefix}plan"
    nvram = f"/var/lib/libvirt/qemu/nvram/{name}_VARS.fd"
    # Diskless and never started: the firmware files need not exist for a definition.
    xml = (
        f"<domain type='kvm'><name>{name}</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type>"
        "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
        f"<nvram>{nvram}</nvram></os><features><acpi/></features>"
        "<devices><disk type='file' device='cdrom'><source file='/srv/iso/install.iso'/>"
        "<target dev='sda' bus='sata'/><readonly/></disk></devices></domain>"
    )
    try:
        host.define_vm_xml(xml)
        plan = host.delete_plan(name)
        assert (plan.vm_name, plan.running, plan.nvram) == (name, False, nvram)
        assert (plan.volumes, plan.kept, plan.snapshots) == ((), ("/srv/iso/install.iso",), ())
        assert name in virsh(QEMU_URI, "list", "--all", "--name").split()
        assert host.delete_vm(name, delete_storage=True) == []
        assert name not in virsh(QEMU_URI, "list", "--all", "--name").split()
    finally:
        _remove_guest(name)
