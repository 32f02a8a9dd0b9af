"""VmSpec and its parts refuse bad input by field; host defaults come from capabilities."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import attrs
import pytest

from virtumancer import InvalidInputError, parse_capabilities
from virtumancer.models import (
    Accelerator,
    BootDevice,
    CloudInitSpec,
    ExistingPath,
    Firmware,
    GraphicsSpec,
    GuestCapability,
    HostCapabilities,
    KernelBoot,
    NewVolume,
    NicSpec,
    Overlay,
    OvmfFirmware,
    SerialSpec,
    SerialType,
    VmSpec,
    find_ovmf,
    generate_mac,
    resolve_spec_defaults,
)

CAPS = Path(__file__).parent.parent / "data" / "xml" / "capabilities"
QEMU_CAPS = parse_capabilities((CAPS / "qemu-system.xml").read_bytes())
TEST_CAPS = parse_capabilities((CAPS / "test-default.xml").read_bytes())
GIB = 1024**3


def _spec(**changes: Any) -> VmSpec:
    return VmSpec(**{"name": "vm1", "memory_bytes": GIB, **changes})


def _refused(field: str, build: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        build()
    assert caught.value.field == field
    assert field in str(caught.value)
    return caught.value


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["vm1", "web-01", "db.primary", "a" * 64, "Büro PC", "under_score", "x+y"],
)
def test_names_libvirt_accepts_and_we_keep(name: str) -> None:
    assert _spec(name=name).name == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("a" * 65, "longer than 64"),
        ("a/b", "'/'"),
        ("bad\nname", "control"),
        ("tab\there", "control"),
        ("-rf", "'-'"),
        (".hidden", "'.'"),
        (" padded", "whitespace"),
        ("padded ", "whitespace"),
    ],
)
def test_bad_names_are_refused_naming_the_field(name: str, why: str) -> None:
    error = _refused("name", lambda: _spec(name=name))
    assert why in error.message


def test_pool_and_volume_names_follow_the_same_rules() -> None:
    _refused("pool", lambda: NewVolume(pool="a/b", size_bytes=1))
    _refused("name", lambda: NewVolume(pool="p", size_bytes=1, name="../etc"))
    _refused("network", lambda: NicSpec(network="-x"))


# --- sizes and counts -------------------------------------------------------------------


@pytest.mark.parametrize("memory", [0, -1, 1023, 1024 * 1024 - 1024, GIB + 1, 17 * 1024**4])
def test_bad_memory_is_refused(memory: int) -> None:
    _refused("memory_bytes", lambda: _spec(memory_bytes=memory))


def test_smallest_memory_is_one_mib() -> None:
    assert _spec(memory_bytes=1024 * 1024).memory_bytes == 1024 * 1024


@pytest.mark.parametrize("vcpus", [0, -2, 4097, True])
def test_bad_vcpus_are_refused(vcpus: int) -> None:
    _refused("vcpus", lambda: _spec(vcpus=vcpus))


@pytest.mark.parametrize("size", [0, -1, 2**63, True])
def test_bad_disk_sizes_are_refused(size: int) -> None:
    _refused("size_bytes", lambda: NewVolume(pool="default", size_bytes=size))
    _refused("size_bytes", lambda: Overlay(pool="default", base_path="/b.qcow2", size_bytes=size))


# --- MACs -------------------------------------------------------------------------------


def test_mac_is_stored_lower_case() -> None:
    assert NicSpec(network="default", mac="52:54:00:AB:CD:EF").mac == "52:54:00:ab:cd:ef"


@pytest.mark.parametrize(
    "mac",
    [
        "52:54:00:ab:cd",  # five octets
        "52:54:00:ab:cd:ef:01",
        "52-54-00-ab-cd-ef",
        "52:54:00:ab:cd:eg",
        "01:00:5e:00:00:01",  # multicast
        "ff:ff:ff:ff:ff:ff",  # broadcast
        "00:00:00:00:00:00",
        "",
    ],
)
def test_bad_macs_are_refused(mac: str) -> None:
    _refused("mac", lambda: NicSpec(network="default", mac=mac))


def test_a_mac_used_twice_names_the_second_nic() -> None:
    nics = (
        NicSpec(network="default", mac="52:54:00:00:00:01"),
        NicSpec(bridge="br0"),
        NicSpec(bridge="br0", mac="52:54:00:00:00:01"),
    )
    _refused("nics[2].mac", lambda: _spec(nics=nics))


def test_generated_macs_use_the_qemu_prefix_and_are_deterministic() -> None:
    first = [generate_mac(random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same MAC
    macs = {generate_mac(random.Random(seed)) for seed in range(200)}
    assert all(mac.startswith("52:54:00:") for mac in macs)
    assert len(macs) > 190
    for mac in macs:
        NicSpec(network="default", mac=mac)  # every generated MAC is valid


def test_generated_mac_avoids_taken_ones() -> None:
    taken = generate_mac(random.Random(1))
    assert generate_mac(random.Random(1), taken=[taken.upper()]) != taken


# --- the other parts --------------------------------------------------------------------


def test_a_nic_needs_exactly_one_of_network_or_bridge() -> None:
    _refused("network", NicSpec)
    _refused("network", lambda: NicSpec(network="default", bridge="br0"))
    _refused("model", lambda: NicSpec(network="default", model="e1000 --x"))


def test_overlay_needs_one_base() -> None:
    _refused("base_path", lambda: Overlay(pool="p"))
    _refused("base_path", lambda: Overlay(pool="p", base_path="/b", base_pool="q", base_volume="v"))
    _refused("base_volume", lambda: Overlay(pool="p", base_pool="q"))
    assert Overlay(pool="p", base_path="/b.qcow2").format == "qcow2"


@pytest.mark.parametrize("path", ["relative.img", "/a/../etc/shadow", "/a\x00b"])
def test_paths_must_be_absolute_and_plain(path: str) -> None:
    _refused("path", lambda: ExistingPath(path=path))
    _refused("kernel", lambda: KernelBoot(kernel=path))


def test_graphics_listen_must_be_an_address() -> None:
    _refused("listen", lambda: GraphicsSpec(listen="example.com"))
    assert GraphicsSpec(listen="::").listen == "::"


def test_serial_file_needs_a_path() -> None:
    _refused("log_path", lambda: SerialSpec(type=SerialType.FILE))
    _refused("log_path", lambda: SerialSpec(log_path="/var/log/x.log"))


def test_cloud_init_keys_and_own_user_data_do_not_mix() -> None:
    _refused(
        "ssh_authorized_keys",
        lambda: CloudInitSpec(user_data="#cloud-config\n", ssh_authorized_keys=("ssh-ed25519 A",)),
    )
    _refused(
        "ssh_authorized_keys[1]", lambda: CloudInitSpec(ssh_authorized_keys=("ssh-rsa A", "x"))
    )


def test_uefi_paths_only_with_uefi() -> None:
    _refused("firmware_loader", lambda: _spec(firmware_loader="/usr/share/OVMF/OVMF_CODE.fd"))


def test_boot_order_lists_a_device_once() -> None:
    _refused("boot_order", lambda: _spec(boot_order=(BootDevice.HD, BootDevice.HD)))


def test_description_refuses_control_characters() -> None:
    _refused("description", lambda: _spec(description="bell\x07"))
    assert _spec(description="two\nlines\tand a tab").description


def test_a_wrong_type_is_refused_not_stored() -> None:
    _refused("firmware", lambda: _spec(firmware="uefi-ish"))
    _refused("disks[0]", lambda: _spec(disks=("/var/lib/x.img",)))


# --- OVMF -------------------------------------------------------------------------------


def test_find_ovmf_prefers_the_4m_build_with_its_vars() -> None:
    files = [
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
        "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
    ]
    assert find_ovmf(files) == OvmfFirmware(
        loader="/usr/share/OVMF/OVMF_CODE_4M.fd",
        vars_template="/usr/share/OVMF/OVMF_VARS_4M.fd",
    )


def test_find_ovmf_needs_code_and_vars_side_by_side() -> None:
    assert find_ovmf([]) is None
    assert find_ovmf(["/usr/share/OVMF/OVMF_CODE.fd", "/elsewhere/OVMF_VARS.fd"]) is None


# --- defaults from the host -------------------------------------------------------------


def test_kvm_host_gets_q35_kvm_and_its_arch() -> None:
    resolved = resolve_spec_defaults(_spec(), QEMU_CAPS, rng=random.Random(0))
    assert (resolved.arch, resolved.machine, resolved.accelerator) == (
        "x86_64",
        "q35",
        Accelerator.KVM,
    )
    assert resolved.video == "virtio"  # the default spec has a VNC display


def test_host_without_q35_or_kvm_gets_pc_and_tcg() -> None:
    caps = HostCapabilities(
        arch="x86_64",
        guests=(
            GuestCapability(
                os_type="hvm",
                arch="x86_64",
                machines=("pc-i440fx-7.2", "pc"),
                domain_types=("qemu",),
            ),
        ),
    )
    resolved = resolve_spec_defaults(_spec(graphics=None), caps)
    assert (resolved.machine, resolved.accelerator, resolved.video) == ("pc", Accelerator.TCG, None)


def test_test_driver_has_no_machines_so_pc() -> None:
    resolved = resolve_spec_defaults(_spec(), TEST_CAPS)
    assert (resolved.arch, resolved.machine, resolved.accelerator) == (
        "i686",
        "pc",
        Accelerator.TCG,
    )


def test_explicit_choices_are_kept() -> None:
    spec = _spec(arch="i686", machine="pc-i440fx-7.2", accelerator=Accelerator.TCG, video="qxl")
    resolved = resolve_spec_defaults(spec, QEMU_CAPS)
    assert resolved == attrs.evolve(spec)


def test_kvm_asked_where_there_is_none_is_refused() -> None:
    _refused(
        "accelerator", lambda: resolve_spec_defaults(_spec(accelerator=Accelerator.KVM), TEST_CAPS)
    )


def test_an_arch_the_host_cannot_run_is_refused() -> None:
    _refused("arch", lambda: resolve_spec_defaults(_spec(arch="riscv64"), QEMU_CAPS))


def test_uefi_takes_ovmf_from_the_files_found() -> None:
    spec = _spec(firmware=Firmware.UEFI)
    _refused("firmware", lambda: resolve_spec_defaults(spec, QEMU_CAPS))
    files = ["/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"]
    resolved = resolve_spec_defaults(spec, QEMU_CAPS, firmware_files=files)
    assert resolved.firmware_loader == "/usr/share/OVMF/OVMF_CODE.fd"
    assert resolved.firmware_vars == "/usr/share/OVMF/OVMF_VARS.fd"
    explicit = _spec(firmware=Firmware.UEFI, firmware_loader="/opt/edk2/CODE.fd")
    assert resolve_spec_defaults(explicit, QEMU_CAPS).firmware_loader == "/opt/edk2/CODE.fd"


def test_missing_macs_are_generated_unique_and_kept_ones_stay() -> None:
    kept = "52:54:00:00:00:01"
    spec = _spec(
        nics=(NicSpec(network="default", mac=kept), NicSpec(bridge="br0"), NicSpec(bridge="br0"))
    )
    resolved = resolve_spec_defaults(spec, QEMU_CAPS, rng=random.Random(3))
    macs = [nic.mac for nic in resolved.nics]
    assert macs[0] == kept
    assert len(set(macs)) == 3
    assert all(mac is not None and mac.startswith("52:54:00:") for mac in macs)
    again = resolve_spec_defaults(spec, QEMU_CAPS, rng=random.Random(3))
    assert again == resolved


def test_cloud_init_ids_default_to_the_vm_name() -> None:
    resolved = resolve_spec_defaults(_spec(cloud_init=CloudInitSpec()), QEMU_CAPS)
    assert resolved.cloud_init == CloudInitSpec(instance_id="vm1", hostname="vm1")
