"""A spec renders to domain XML that parses back to a domain with the spec's fields."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit import spec_strategies as ss
from virtumancer import parse_domain, render_spec
from virtumancer._xml.spec import disk_target_names
from virtumancer.models import (
    Accelerator,
    BootDevice,
    CloudInitSpec,
    DiskBus,
    DiskDevice,
    DiskSource,
    Domain,
    ExistingPath,
    ExistingVolume,
    Firmware,
    GraphicsSpec,
    GraphicsType,
    KernelBoot,
    NewVolume,
    NicSpec,
    Overlay,
    SerialSpec,
    SerialType,
    VirtumancerMetadata,
    VmSpec,
    VolumeFormat,
)

GOLDEN_DIR = Path(__file__).parent.parent / "data" / "xml" / "spec"
METADATA = VirtumancerMetadata(
    managed_by="virtumancer",
    imported_at=dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC),
    imported_by="admin",
    version="0.1.0",
)
IMAGES = "/var/lib/libvirt/images"


def _bus(spec: VmSpec, index: int) -> DiskBus:
    return disk_target_names(spec, with_cloud_init=spec.cloud_init is not None)[index][1]


def assert_domain_matches(
    domain: Domain,
    spec: VmSpec,
    sources: Sequence[DiskSource],
    cloud_init_source: DiskSource | None,
    metadata: VirtumancerMetadata,
) -> None:
    """What a user would check in ``virsh dumpxml``: every field of the spec is there."""
    assert spec.accelerator is not None
    assert domain.name == spec.name
    assert domain.description == spec.description
    assert domain.memory_bytes == domain.current_memory_bytes == spec.memory_bytes
    assert domain.vcpus == spec.vcpus
    assert domain.domain_type == spec.accelerator.domain_type
    assert (domain.os_type, domain.arch, domain.machine) == ("hvm", spec.arch, spec.machine)
    assert domain.loader == (spec.firmware_loader if spec.firmware is Firmware.UEFI else None)
    assert domain.boot_devices == tuple(device.value for device in spec.boot_order)
    kernel = spec.kernel_boot
    assert domain.kernel == (kernel.kernel if kernel else None)
    assert domain.initrd == (kernel.initrd if kernel else None)
    assert domain.cmdline == (kernel.cmdline if kernel and kernel.cmdline else None)
    assert domain.metadata == metadata

    all_sources = [*sources, *([cloud_init_source] if cloud_init_source else [])]
    assert len(domain.devices.disks) == len(all_sources)
    names = disk_target_names(spec, with_cloud_init=cloud_init_source is not None)
    for index, (disk, source) in enumerate(zip(domain.devices.disks, all_sources, strict=True)):
        wanted = spec.disks[index] if index < len(spec.disks) else None
        cdrom = wanted is None or (
            isinstance(wanted, ExistingPath | ExistingVolume) and wanted.device is DiskDevice.CDROM
        )
        assert disk.device == ("cdrom" if cdrom else "disk")
        assert disk.read_only == cdrom
        assert disk.type == ("block" if source.block else "file")
        assert (disk.source_path, disk.driver_type) == (source.path, source.format.value)
        assert (disk.target_dev, disk.target_bus) == (names[index][0], names[index][1].value)
    assert len({disk.target_dev for disk in domain.devices.disks}) == len(all_sources)

    assert [
        (nic.type, nic.mac, nic.source_network, nic.source_bridge, nic.model)
        for nic in domain.devices.interfaces
    ] == [
        ("network" if nic.network else "bridge", nic.mac, nic.network, nic.bridge, nic.model)
        for nic in spec.nics
    ]
    graphics = [(g.type, g.listen, g.autoport, g.port) for g in domain.devices.graphics]
    assert graphics == (
        []
        if spec.graphics is None
        else [(spec.graphics.type.value, spec.graphics.listen, True, None)]
    )
    assert [video.model for video in domain.devices.videos] == ([spec.video] if spec.video else [])
    serials = [(c.kind, c.type, c.target_port) for c in domain.devices.chardevs]
    assert serials == ([] if spec.serial is None else [("serial", spec.serial.type.value, 0)])


@given(spec=ss.vm_specs(resolved=True), data=st.data())
def test_rendered_spec_parses_back_to_its_fields(spec: VmSpec, data: st.DataObject) -> None:
    sources = data.draw(
        st.lists(ss.disk_sources, min_size=len(spec.disks), max_size=len(spec.disks))
    )
    seed = data.draw(ss.disk_sources) if spec.cloud_init is not None else None
    uuid = data.draw(st.none() | st.uuids().map(str))
    xml = render_spec(
        spec, disk_sources=sources, metadata=METADATA, cloud_init_source=seed, uuid=uuid
    )
    domain = parse_domain(xml)
    assert domain.uuid == (uuid or "")
    assert_domain_matches(domain, spec, sources, seed, METADATA)


def test_disk_names_count_per_bus() -> None:
    spec = VmSpec(
        name="vm",
        memory_bytes=1024**3,
        machine="q35",
        disks=(
            NewVolume(pool="p", size_bytes=1),
            ExistingPath(path="/x.iso", device=DiskDevice.CDROM),
            NewVolume(pool="p", size_bytes=1, bus=DiskBus.SCSI),
            *(NewVolume(pool="p", size_bytes=1) for _ in range(27)),
        ),
        cloud_init=CloudInitSpec(),
    )
    names = [name for name, _ in disk_target_names(spec, with_cloud_init=True)]
    assert names[:4] == ["vda", "sda", "sdb", "vdb"]
    assert names[-2:] == ["vdab", "sdc"]  # the 28th virtio disk, then the seed CD-ROM
    on_pc = disk_target_names(
        VmSpec(name="vm", memory_bytes=1024**3, machine="pc", cloud_init=CloudInitSpec()),
        with_cloud_init=True,
    )
    assert on_pc == [("hda", DiskBus.IDE)]


def test_render_refuses_an_unresolved_spec_or_wrong_sources() -> None:
    spec = VmSpec(name="vm", memory_bytes=1024**3, disks=(NewVolume(pool="p", size_bytes=1),))
    with pytest.raises(ValueError, match="resolve_spec_defaults"):
        render_spec(spec, disk_sources=[DiskSource(path="/a")], metadata=METADATA)
    resolved = VmSpec(
        name="vm",
        memory_bytes=1024**3,
        arch="x86_64",
        machine="q35",
        accelerator=Accelerator.KVM,
        disks=spec.disks,
    )
    with pytest.raises(ValueError, match="0 disk sources for 1 disks"):
        render_spec(resolved, disk_sources=[], metadata=METADATA)


# --- golden files -----------------------------------------------------------------------

#: Typical specs, already resolved for a KVM host, with where the library put their disks.
GOLDEN_SPECS: dict[str, tuple[VmSpec, list[DiskSource], DiskSource | None]] = {
    "bios-install.xml": (
        VmSpec(
            name="web-01",
            memory_bytes=2 * 1024**3,
            vcpus=2,
            arch="x86_64",
            machine="q35",
            accelerator=Accelerator.KVM,
            disks=(
                NewVolume(pool="default", size_bytes=20 * 1024**3),
                ExistingVolume(pool="isos", volume="debian-12.iso", device=DiskDevice.CDROM),
            ),
            nics=(NicSpec(network="default", mac="52:54:00:3a:10:01"),),
            graphics=GraphicsSpec(),
            video="virtio",
            boot_order=(BootDevice.CDROM, BootDevice.HD),
            description="Web server, installed from the Debian ISO",
        ),
        [
            DiskSource(path=f"{IMAGES}/web-01-disk0.qcow2", format=VolumeFormat.QCOW2),
            DiskSource(path="/srv/isos/debian-12.iso"),
        ],
        None,
    ),
    "uefi-cloud-init.xml": (
        VmSpec(
            name="ci-runner",
            memory_bytes=4 * 1024**3,
            vcpus=4,
            arch="x86_64",
            machine="q35",
            accelerator=Accelerator.KVM,
            firmware=Firmware.UEFI,
            firmware_loader="/usr/share/OVMF/OVMF_CODE_4M.fd",
            firmware_vars="/usr/share/OVMF/OVMF_VARS_4M.fd",
            disks=(
                Overlay(
                    pool="default",
                    base_pool="templates",
                    base_volume="debian-12-genericcloud.qcow2",
                ),
            ),
            nics=(NicSpec(bridge="br0", model="e1000e", mac="52:54:00:3a:10:02"),),
            graphics=GraphicsSpec(type=GraphicsType.SPICE, listen="0.0.0.0"),
            video="qxl",
            serial=SerialSpec(
                type=SerialType.FILE, log_path="/var/log/libvirt/qemu/ci-runner.serial.log"
            ),
            cloud_init=CloudInitSpec(
                ssh_authorized_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxZ ci@example",),
                instance_id="ci-runner",
                hostname="ci-runner",
            ),
        ),
        [DiskSource(path=f"{IMAGES}/ci-runner-disk0.qcow2", format=VolumeFormat.QCOW2)],
        DiskSource(path=f"{IMAGES}/ci-runner-cidata.iso"),
    ),
    "kernel-tcg.xml": (
        VmSpec(
            name="tiny-linux",
            memory_bytes=256 * 1024**2,
            arch="x86_64",
            machine="pc",
            accelerator=Accelerator.TCG,
            disks=(ExistingPath(path=f"{IMAGES}/tiny-root.img"),),
            graphics=None,
            boot_order=(),
            kernel_boot=KernelBoot(
                kernel=f"{IMAGES}/vmlinuz", initrd=f"{IMAGES}/initrd.img", cmdline="console=ttyS0"
            ),
            serial=SerialSpec(),
            description="Direct kernel boot under TCG",
        ),
        [DiskSource(path=f"{IMAGES}/tiny-root.img")],
        None,
    ),
}


def render_golden(name: str) -> bytes:
    """Render one golden spec (the libvirt test defines these same documents)."""
    spec, sources, seed = GOLDEN_SPECS[name]
    return render_spec(
        spec,
        disk_sources=sources,
        metadata=METADATA,
        cloud_init_source=seed,
        uuid=f"6c8e4b8a-6f0e-4f4e-9d1c-00000000000{sorted(GOLDEN_SPECS).index(name)}",
    )


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_golden_spec_renders_to_its_file(name: str) -> None:
    path = GOLDEN_DIR / name
    if os.environ.get("VIRTUMANCER_WRITE_GOLDEN"):  # regenerate after a reviewed change
        path.write_bytes(render_golden(name))
    assert render_golden(name) == path.read_bytes()


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_golden_file_parses_to_the_spec(name: str) -> None:
    spec, sources, seed = GOLDEN_SPECS[name]
    domain = parse_domain((GOLDEN_DIR / name).read_bytes())
    assert_domain_matches(domain, spec, sources, seed, METADATA)


def test_every_golden_file_has_a_spec() -> None:
    assert sorted(path.name for path in GOLDEN_DIR.glob("*.xml")) == sorted(GOLDEN_SPECS)
