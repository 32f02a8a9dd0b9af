"""A VM spec's JSON shape: request bodies structure to specs; bad ones name the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from tests.unit import spec_strategies as ss
from virtumancer import InvalidInputError, structure_spec, unstructure_spec
from virtumancer.models import (
    BootDevice,
    DiskDevice,
    ExistingVolume,
    Firmware,
    NewVolume,
    NicSpec,
    Overlay,
    VmSpec,
)

BODY: dict[str, Any] = {
    "name": "web-01",
    "memory_bytes": 2 * 1024**3,
    "vcpus": 2,
    "firmware": "uefi",
    "disks": [
        {"kind": "new_volume", "pool": "default", "size_bytes": 20 * 1024**3},
        {"kind": "existing_volume", "pool": "isos", "volume": "debian.iso", "device": "cdrom"},
        {"kind": "overlay", "pool": "default", "base_path": "/var/lib/libvirt/images/base.qcow2"},
    ],
    "nics": [
        {"network": "default"},
        {"bridge": "br0", "model": "e1000e", "mac": "52:54:00:AA:BB:CC"},
    ],
    "boot_order": ["cdrom", "hd"],
    "cloud_init": {"ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nz me@host"]},
}


def test_a_request_body_structures_to_a_spec() -> None:
    spec = structure_spec(BODY)
    assert spec.firmware is Firmware.UEFI
    assert spec.disks == (
        NewVolume(pool="default", size_bytes=20 * 1024**3),
        ExistingVolume(pool="isos", volume="debian.iso", device=DiskDevice.CDROM),
        Overlay(pool="default", base_path="/var/lib/libvirt/images/base.qcow2"),
    )
    assert spec.nics[1] == NicSpec(bridge="br0", model="e1000e", mac="52:54:00:aa:bb:cc")
    assert spec.boot_order == (BootDevice.CDROM, BootDevice.HD)


@given(ss.vm_specs())
def test_spec_json_round_trip(spec: VmSpec) -> None:
    data = json.loads(json.dumps(unstructure_spec(spec)))
    assert structure_spec(data) == spec


def test_disks_say_their_kind() -> None:
    data = unstructure_spec(structure_spec(BODY))
    assert [disk["kind"] for disk in data["disks"]] == ["new_volume", "existing_volume", "overlay"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return change


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (_set("memory_bytes", 0), "memory_bytes", "between 1 MiB"),
        (_set("memory_bytes", "1024"), "memory_bytes", "integer"),
        (_set("vcpus", 1.5), "vcpus", "integer"),
        (_set("vcpus", True), "vcpus", "integer"),
        (_set("nics.0.mac", "52:54:00:zz:00:01"), "nics[0].mac", "not a MAC"),
        (_set("nics.1.mac", "01:00:5e:00:00:01"), "nics[1].mac", "multicast"),
        (_set("disks.0.size_bytes", -5), "disks[0].size_bytes", "positive"),
        (_set("disks.2.size_bytes", 0), "disks[2].size_bytes", "positive"),
        (_set("disks.1.kind", "floppy"), "disks[1].kind", "new_volume"),
        (_drop("disks.1.kind"), "disks[1].kind", "not one of"),
        (_drop("disks.0.pool"), "disks[0].pool", "required"),
        (_set("disks.1", "debian.iso"), "disks[1]", "object"),
        (_set("disks", {}), "disks", "array"),
        (_set("firmware", "coreboot"), "firmware", "bios, uefi"),
        (_set("boot_order", "hd"), "boot_order", "array"),
        (_set("boot_order.1", "floppy"), "boot_order[1]", "hd, cdrom, network"),
        (_set("name", "a/b"), "name", "'/'"),
        (_set("name", 7), "name", "string"),
        (_drop("name"), "name", "required"),
        (_set("colour", "red"), "colour", "unknown key(s): colour"),
        (_set("disks.0.colour", "red"), "disks[0].colour", "unknown key(s) in disks[0]"),
        (_set("graphics", {"type": "rdp"}), "graphics.type", "vnc, spice"),
        (
            _set("cloud_init.ssh_authorized_keys.0", "nokey"),
            "cloud_init.ssh_authorized_keys[0]",
            "SSH",
        ),
        (_set("nics.0", {"network": "default", "bridge": "br0"}), "nics[0].network", "exactly one"),
    ],
)
def test_bad_bodies_name_the_field(
    change: Callable[[dict[str, Any]], None], field: str, words: str
) -> None:
    body = copy.deepcopy(BODY)
    change(body)
    with pytest.raises(InvalidInputError) as caught:
        structure_spec(body)
    assert caught.value.field == field
    assert words in caught.value.message
    assert field.rsplit(".", 1)[-1] in caught.value.message


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="JSON object"):
        structure_spec([])  # type: ignore[arg-type]


def test_the_documented_example_is_a_valid_spec() -> None:
    page = (Path(__file__).parent.parent.parent / "docs" / "vm-spec.md").read_text()
    example = page.split("```json\n", 1)[1].split("```", 1)[0]
    spec = structure_spec(json.loads(example))
    assert spec.name == "web-01"
    assert len(spec.disks) == 4
