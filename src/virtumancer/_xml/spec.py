"""Render a :class:`~virtumancer.models.spec.VmSpec` as complete domain XML (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from lxml import etree

from virtumancer._xml.devices import (
    disk_element,
    disk_target_letters,
    graphics_element,
    input_element,
    interface_element,
    video_element,
)
from virtumancer._xml.metadata import metadata_element
from virtumancer.models.devices import Disk, Graphics, Input, Interface, Video
from virtumancer.models.metadata import VirtumancerMetadata
from virtumancer.models.spec import (
    DiskBus,
    DiskDevice,
    DiskSource,
    DiskSpec,
    ExistingPath,
    ExistingVolume,
    Firmware,
    SerialType,
    VmSpec,
)

__all__ = ["disk_target_names", "render_spec"]

# Device name prefix per bus; SATA and SCSI disks share the "sd" names.
_PREFIX: Final = {DiskBus.VIRTIO: "vd", DiskBus.SATA: "sd", DiskBus.SCSI: "sd", DiskBus.IDE: "hd"}


def _device(disk: DiskSpec) -> DiskDevice:
    return disk.device if isinstance(disk, ExistingVolume | ExistingPath) else DiskDevice.DISK


def _cdrom_bus(machine: str) -> DiskBus:
    # virtio has no CD-ROMs; q35 has no IDE controller, i440fx ("pc") has one.
    return DiskBus.SATA if "q35" in machine else DiskBus.IDE


def _bus(device: DiskDevice, bus: DiskBus | None, machine: str) -> DiskBus:
    if bus is not None:
        return bus
    return DiskBus.VIRTIO if device is DiskDevice.DISK else _cdrom_bus(machine)


def disk_target_names(spec: VmSpec, *, with_cloud_init: bool = False) -> list[tuple[str, DiskBus]]:
    """Return each disk's guest device name and bus (``vda``, ``sda`` ...), in spec order.

    With ``with_cloud_init`` the seed CD-ROM's comes last.
    """
    machine = spec.machine or "pc"
    used: dict[str, int] = {}
    buses = [_bus(_device(disk), disk.bus, machine) for disk in spec.disks]
    if with_cloud_init:
        buses.append(_cdrom_bus(machine))
    names = []
    for bus in buses:
        prefix = _PREFIX[bus]
        count = used.get(prefix, 0)
        used[prefix] = count + 1
        names.append((prefix + disk_target_letters(count), bus))
    return names


def _disk(source: DiskSource, device: DiskDevice, target: tuple[str, DiskBus]) -> etree._Element:
    return disk_element(
        Disk(
            type="block" if source.block else "file",
            device=device.value,
            driver_name="qemu",
            driver_type=source.format.value,
            source_path=source.path,
            target_dev=target[0],
            target_bus=target[1].value,
            read_only=device is DiskDevice.CDROM,
        )
    )


def render_spec(
    spec: VmSpec,
    *,
    disk_sources: Sequence[DiskSource],
    metadata: VirtumancerMetadata,
    cloud_init_source: DiskSource | None = None,
    uuid: str | None = None,
) -> bytes:
    """Render a resolved ``spec`` as domain XML for ``virConnect.defineXML``.

    ``spec`` must have been through
    :func:`~virtumancer.models.spec.resolve_spec_defaults` (arch, machine, accelerator and
    UEFI paths set). ``disk_sources[i]`` is where ``spec.disks[i]`` lives on the host;
    ``cloud_init_source`` the seed ISO, attached as a read-only CD-ROM after the disks.
    ``metadata`` is our provenance element marking the VM as managed. ``uuid`` ``None``
    lets libvirt choose one. Raise :class:`ValueError` for an unresolved spec or a
    ``disk_sources`` that does not match ``spec.disks`` (both are the caller's bugs).
    """
    if spec.arch is None or spec.machine is None or spec.accelerator is None:
        raise ValueError("resolve_spec_defaults() must fill arch, machine and accelerator")
    if spec.firmware is Firmware.UEFI and spec.firmware_loader is None:
        raise ValueError("a UEFI spec needs firmware_loader (resolve_spec_defaults)")
    if len(disk_sources) != len(spec.disks):
        raise ValueError(f"{len(disk_sources)} disk sources for {len(spec.disks)} disks")
    if spec.cloud_init is not None and cloud_init_source is None:
        raise ValueError("a spec with cloud_init needs cloud_init_source (the seed ISO)")
    root = etree.Element("domain", type=spec.accelerator.domain_type)
    etree.SubElement(root, "name").text = spec.name
    if uuid is not None:
        etree.SubElement(root, "uuid").text = uuid
    if spec.description:
        etree.SubElement(root, "description").text = spec.description
    etree.SubElement(root, "metadata").append(metadata_element(metadata))
    etree.SubElement(root, "memory", unit="KiB").text = str(spec.memory_bytes // 1024)
    etree.SubElement(root, "currentMemory", unit="KiB").text = str(spec.memory_bytes // 1024)
    etree.SubElement(root, "vcpu", placement="static").text = str(spec.vcpus)

    os_element = etree.SubElement(root, "os")
    etree.SubElement(os_element, "type", arch=spec.arch, machine=spec.machine).text = "hvm"
    if spec.firmware is Firmware.UEFI and spec.firmware_loader is not None:
        loader = etree.SubElement(os_element, "loader", readonly="yes", type="pflash")
        loader.text = spec.firmware_loader
        if spec.firmware_vars is not None:
            etree.SubElement(os_element, "nvram", template=spec.firmware_vars)
    if spec.kernel_boot is not None:
        etree.SubElement(os_element, "kernel").text = spec.kernel_boot.kernel
        if spec.kernel_boot.initrd is not None:
            etree.SubElement(os_element, "initrd").text = spec.kernel_boot.initrd
        if spec.kernel_boot.cmdline:
            etree.SubElement(os_element, "cmdline").text = spec.kernel_boot.cmdline
    for boot_device in spec.boot_order:
        etree.SubElement(os_element, "boot", dev=boot_device.value)

    # ACPI lets a guest power off on `shutdown`; the APIC is what every modern OS expects.
    features = etree.SubElement(root, "features")
    etree.SubElement(features, "acpi")
    etree.SubElement(features, "apic")
    etree.SubElement(root, "clock", offset="utc")
    etree.SubElement(root, "on_poweroff").text = "destroy"
    etree.SubElement(root, "on_reboot").text = "restart"
    etree.SubElement(root, "on_crash").text = "destroy"

    devices = etree.SubElement(root, "devices")
    targets = disk_target_names(spec, with_cloud_init=spec.cloud_init is not None)
    for disk, source, target in zip(spec.disks, disk_sources, targets, strict=False):
        devices.append(_disk(source, _device(disk), target))
    if spec.cloud_init is not None and cloud_init_source is not None:
        devices.append(_disk(cloud_init_source, DiskDevice.CDROM, targets[-1]))
    for nic in spec.nics:
        devices.append(
            interface_element(
                Interface(
                    type="network" if nic.network is not None else "bridge",
                    mac=nic.mac,
                    source_network=nic.network,
                    source_bridge=nic.bridge,
                    model=nic.model,
                )
            )
        )
    if spec.serial is not None:
        serial = etree.SubElement(devices, "serial", type=spec.serial.type.value)
        if spec.serial.type is SerialType.FILE and spec.serial.log_path is not None:
            etree.SubElement(serial, "source", path=spec.serial.log_path)
        etree.SubElement(serial, "target", port="0")
    if spec.graphics is not None:
        # A USB tablet gives absolute pointer positions, so the remote cursor stays aligned.
        devices.append(input_element(Input(type="tablet", bus="usb")))
        devices.append(
            graphics_element(
                Graphics(type=spec.graphics.type.value, autoport=True, listen=spec.graphics.listen)
            )
        )
    if spec.video is not None:
        devices.append(video_element(Video(model=spec.video)))
    return etree.tostring(root, pretty_print=True)
