"""Hypothesis strategies for Virtumancer's models (values libvirt XML can carry)."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import strategies as st

from virtumancer.models import (
    CharDevice,
    Controller,
    Disk,
    DiskStats,
    Domain,
    DomainDevices,
    DomainState,
    DomainStatsSample,
    Filesystem,
    Graphics,
    HostDevice,
    Input,
    Interface,
    InterfaceStats,
    PciAddress,
    Rng,
    Sound,
    Tpm,
    Video,
    VirtumancerMetadata,
    Watchdog,
)

# Characters that survive XML unchanged (no control characters, no CR normalisation).
_TEXT = string.ascii_letters + string.digits + " -_.:/&<>'\"@+é€"
_TOKEN = string.ascii_letters + string.digits + "-_.:/"

text = st.text(_TEXT, max_size=20)
names = st.text(_TOKEN, min_size=1, max_size=16)
optional_text = st.none() | text
counts = st.integers(min_value=0, max_value=2**63 - 1)
small = st.integers(min_value=0, max_value=65535)
# Naive bounds (hypothesis wants them naive); every value is made UTC-aware below.
utc_datetimes = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(2999, 12, 31),
).map(lambda value: value.replace(tzinfo=dt.UTC))

pci_addresses = st.builds(
    PciAddress,
    domain=small,
    bus=st.integers(0, 255),
    slot=st.integers(0, 31),
    function=st.integers(0, 7),
)

disks = st.builds(
    Disk,
    type=st.sampled_from(["file", "block", "dir", "network", "volume"]) | names,
    device=st.sampled_from(["disk", "cdrom", "floppy", "lun"]),
    driver_name=st.none() | names,
    driver_type=st.none() | names,
    source_path=optional_text,
    source_pool=optional_text,
    source_volume=optional_text,
    source_protocol=st.none() | names,
    source_name=optional_text,
    target_dev=names,
    target_bus=st.none() | names,
    read_only=st.booleans(),
    shareable=st.booleans(),
    serial=optional_text,
    size_bytes=st.none(),  # not part of the XML
)

interfaces = st.builds(
    Interface,
    type=st.sampled_from(["network", "bridge", "ethernet", "direct", "user"]) | names,
    mac=st.none() | names,
    source_network=optional_text,
    source_bridge=optional_text,
    source_portgroup=optional_text,
    source_dev=optional_text,
    model=st.none() | names,
    target_dev=st.none() | names,
    vlan_tags=st.lists(st.integers(0, 4095), max_size=4).map(tuple),
    alias=st.none() | names,
)

graphics = st.builds(
    Graphics,
    type=st.sampled_from(["vnc", "spice", "rdp"]),
    port=st.none() | st.integers(0, 65535),
    tls_port=st.none() | st.integers(0, 65535),
    autoport=st.booleans(),
    listen=st.none() | names,
    has_password=st.booleans(),
    socket_path=st.none() | names,
)

videos = st.builds(
    Video,
    model=st.sampled_from(["qxl", "virtio", "vga", "cirrus", "bochs"]) | names,
    vram_kib=st.none() | counts,
    heads=st.none() | st.integers(1, 16),
    accel3d=st.booleans(),
    primary=st.booleans(),
)

hostdevs = st.builds(
    HostDevice,
    mode=st.sampled_from(["subsystem", "capabilities"]),
    type=st.sampled_from(["pci", "usb", "scsi", "mdev"]),
    managed=st.booleans(),
    pci_address=st.none() | pci_addresses,
)

controllers = st.builds(
    Controller,
    type=st.sampled_from(["usb", "pci", "sata", "scsi", "virtio-serial", "ide"]),
    index=st.none() | st.integers(0, 64),
    model=st.none() | names,
)


def _tuples(strategy: st.SearchStrategy[object], max_size: int = 3) -> st.SearchStrategy[tuple]:  # type: ignore[type-arg]
    return st.lists(strategy, max_size=max_size).map(tuple)


inputs = st.builds(
    Input,
    type=st.sampled_from(["tablet", "mouse", "keyboard"]),
    bus=st.none() | st.sampled_from(["usb", "ps2", "virtio"]),
)
sounds = st.builds(Sound, model=st.sampled_from(["ich9", "ich6", "ac97"]) | names)
chardevs = st.builds(
    CharDevice,
    kind=st.sampled_from(["serial", "console", "parallel", "channel"]),
    type=st.sampled_from(["pty", "unix", "spicevmc", "file"]),
    target_type=st.none() | names,
    target_port=st.none() | st.integers(0, 32),
    target_name=st.none() | names,
)
filesystems = st.builds(
    Filesystem,
    type=st.sampled_from(["mount", "template"]),
    driver_type=st.none() | st.sampled_from(["virtiofs", "path"]),
    source_dir=optional_text,
    target_dir=optional_text,
    read_only=st.booleans(),
)
rngs = st.builds(
    Rng,
    model=st.sampled_from(["virtio", "virtio-transitional"]),
    backend_model=st.none() | st.sampled_from(["random", "egd"]),
    backend_source=st.none() | names,
)
tpms = st.builds(
    Tpm,
    model=st.none() | st.sampled_from(["tpm-tis", "tpm-crb"]),
    backend_type=st.none() | st.sampled_from(["emulator", "passthrough"]),
    backend_version=st.none() | st.sampled_from(["1.2", "2.0"]),
)
watchdogs = st.builds(
    Watchdog,
    model=st.sampled_from(["i6300esb", "itco"]),
    action=st.none() | st.sampled_from(["reset", "poweroff", "none"]),
)

domain_devices = st.builds(
    DomainDevices,
    disks=_tuples(disks),
    interfaces=_tuples(interfaces),
    graphics=_tuples(graphics),
    videos=_tuples(videos),
    hostdevs=_tuples(hostdevs),
    controllers=_tuples(controllers),
    inputs=_tuples(inputs),
    sounds=_tuples(sounds),
    chardevs=_tuples(chardevs),
    filesystems=_tuples(filesystems),
    rngs=_tuples(rngs),
    tpms=_tuples(tpms),
    watchdogs=_tuples(watchdogs),
    memballoon=st.none() | st.sampled_from(["virtio", "none"]),
    emulator=st.none() | names,
)

metadata = st.builds(
    VirtumancerMetadata,
    managed_by=names,
    imported_at=utc_datetimes,
    imported_by=st.none() | names,
    version=names,
)

domains = st.builds(
    Domain,
    uuid=st.uuids().map(str),
    name=names,
    title=text,
    description=text,
    domain_type=st.sampled_from(["kvm", "qemu", "test"]),
    vcpus=st.integers(1, 512),
    current_vcpus=st.none() | st.integers(1, 512),
    memory_bytes=counts,
    current_memory_bytes=counts,
    os_type=st.sampled_from(["hvm", "xen", "linux", "exe"]),
    arch=st.none() | st.sampled_from(["x86_64", "i686", "aarch64"]),
    machine=st.none() | names,
    firmware=st.none() | st.sampled_from(["efi", "bios"]),
    boot_devices=_tuples(st.sampled_from(["hd", "cdrom", "network", "fd"])),
    loader=st.none() | names,
    kernel=st.none() | names,
    initrd=st.none() | names,
    cmdline=st.none() | text,
    cpu_mode=st.none() | st.sampled_from(["host-passthrough", "host-model", "custom"]),
    cpu_model=st.none() | names,
    on_poweroff=st.none() | st.sampled_from(["destroy", "restart"]),
    on_reboot=st.none() | st.sampled_from(["destroy", "restart"]),
    on_crash=st.none() | st.sampled_from(["destroy", "coredump-restart"]),
    devices=domain_devices,
    metadata=st.none() | metadata,
    id=st.none() | st.integers(0, 2**31 - 1),
)

disk_stats = st.builds(
    DiskStats,
    device=names,
    read_bytes=counts,
    write_bytes=counts,
    read_requests=counts,
    write_requests=counts,
)
interface_stats = st.builds(
    InterfaceStats,
    device=names,
    rx_bytes=counts,
    tx_bytes=counts,
    rx_packets=counts,
    tx_packets=counts,
)
stats_samples = st.builds(
    DomainStatsSample,
    domain_uuid=st.uuids().map(str),
    domain_name=names,
    timestamp_ns=counts,
    wallclock=utc_datetimes,
    state=st.sampled_from(DomainState),
    memory_bytes=counts,
    max_memory_bytes=counts,
    vcpus=st.integers(0, 512),
    cpu_time_ns=counts,
    disks=_tuples(disk_stats),
    interfaces=_tuples(interface_stats),
)
