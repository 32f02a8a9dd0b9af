"""Hypothesis strategies for VM specs (valid values only; bad ones are tested by hand)."""

from __future__ import annotations

import string

import attrs
from hypothesis import strategies as st

from virtumancer.exceptions import InvalidInputError
from virtumancer.models import (
    Accelerator,
    BootDevice,
    CloudInitSpec,
    DiskBus,
    DiskDevice,
    DiskSource,
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
    VmSpec,
    VolumeFormat,
)
from virtumancer.models.spec import check_name

# What survives XML and JSON unchanged (no control characters, no CR normalisation).
_TEXT = string.ascii_letters + string.digits + " -_.:/&<>'\"@+=,é€"


def _valid_name(value: str) -> bool:
    try:
        check_name(value)
    except InvalidInputError:
        return False
    return True


names = st.text(string.ascii_letters + string.digits + " -_.+éß", min_size=1, max_size=64).filter(
    _valid_name
)
tokens = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,15}", fullmatch=True)
paths = st.lists(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,11}", fullmatch=True), min_size=1, max_size=4
).map(lambda parts: "/" + "/".join(parts))
text = st.text(_TEXT, max_size=40)
sizes = st.integers(1, 2**63 - 1)
formats = st.sampled_from(VolumeFormat)
buses = st.none() | st.sampled_from(DiskBus)
macs = st.integers(0, 2**24 - 1).map(
    lambda low: f"52:54:00:{low >> 16:02x}:{(low >> 8) & 0xFF:02x}:{low & 0xFF:02x}"
)

new_volumes = st.builds(
    NewVolume, pool=names, size_bytes=sizes, format=formats, name=st.none() | names, bus=buses
)
existing_volumes = st.builds(
    ExistingVolume, pool=names, volume=names, device=st.sampled_from(DiskDevice), bus=buses
)
existing_paths = st.builds(
    ExistingPath, path=paths, format=formats, device=st.sampled_from(DiskDevice), bus=buses
)
overlays = st.one_of(
    st.builds(Overlay, pool=names, base_path=paths),
    st.builds(Overlay, pool=names, base_pool=names, base_volume=names),
).flatmap(
    lambda overlay: st.builds(
        Overlay,
        pool=st.just(overlay.pool),
        base_path=st.just(overlay.base_path),
        base_pool=st.just(overlay.base_pool),
        base_volume=st.just(overlay.base_volume),
        base_format=formats,
        size_bytes=st.none() | sizes,
        name=st.none() | names,
        bus=buses,
    )
)
disk_specs = st.one_of(new_volumes, existing_volumes, existing_paths, overlays)

nic_specs = st.one_of(
    st.builds(NicSpec, network=names, model=tokens, mac=st.none() | macs),
    st.builds(NicSpec, bridge=names, model=tokens, mac=st.none() | macs),
)
graphics_specs = st.builds(
    GraphicsSpec,
    type=st.sampled_from(GraphicsType),
    listen=st.sampled_from(["127.0.0.1", "0.0.0.0", "::1", "192.0.2.7"]),
)
kernel_boots = st.builds(KernelBoot, kernel=paths, initrd=st.none() | paths, cmdline=text)
serial_specs = st.one_of(
    st.builds(SerialSpec, type=st.just(SerialType.PTY)),
    st.builds(SerialSpec, type=st.just(SerialType.FILE), log_path=paths),
)
ssh_keys = st.builds(
    lambda kind, body, comment: f"{kind} {body} {comment}".strip(),
    st.sampled_from(["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"]),
    st.text(string.ascii_letters + string.digits + "+/=", min_size=1, max_size=60),
    st.text(string.ascii_letters + "@.-", max_size=12),
)
cloud_init_specs = st.one_of(
    st.builds(
        CloudInitSpec,
        ssh_authorized_keys=st.lists(ssh_keys, max_size=3).map(tuple),
        instance_id=st.none() | names,
        hostname=st.none() | names,
        meta_data=st.none() | text,
    ),
    st.builds(CloudInitSpec, user_data=text, meta_data=st.none() | text),
)


@st.composite
def vm_specs(draw: st.DrawFn, *, resolved: bool = False) -> VmSpec:
    """Draw a valid :class:`VmSpec`; ``resolved`` fills what resolve_spec_defaults would."""
    firmware = draw(st.sampled_from(Firmware))
    uefi = firmware is Firmware.UEFI
    nics = draw(st.lists(nic_specs, max_size=3, unique_by=lambda nic: nic.mac or object()))
    graphics = draw(st.none() | graphics_specs)
    if resolved:
        nics = [
            nic if nic.mac is not None else attrs.evolve(nic, mac=mac)
            for nic, mac in zip(
                nics,
                draw(
                    st.lists(
                        macs.filter(lambda mac: mac not in {n.mac for n in nics}),
                        min_size=len(nics),
                        max_size=len(nics),
                        unique=True,
                    )
                ),
                strict=True,
            )
        ]
    return VmSpec(
        name=draw(names),
        memory_bytes=draw(st.integers(1024, 2**24)) * 1024,
        vcpus=draw(st.integers(1, 4096)),
        arch=draw(st.sampled_from(["x86_64", "i686", "aarch64"]) if resolved else st.none()),
        machine=draw(
            st.sampled_from(["q35", "pc", "pc-q35-7.2", "virt"]) if resolved else st.none()
        ),
        accelerator=draw(
            st.sampled_from(Accelerator) if resolved else st.none() | st.sampled_from(Accelerator)
        ),
        firmware=firmware,
        firmware_loader=draw(
            paths if uefi and resolved else st.none() | paths if uefi else st.none()
        ),
        firmware_vars=draw(st.none() | paths if uefi else st.none()),
        disks=tuple(draw(st.lists(disk_specs, max_size=4))),
        nics=tuple(nics),
        graphics=graphics,
        video=draw(st.none() | tokens),
        boot_order=tuple(draw(st.lists(st.sampled_from(BootDevice), unique=True, max_size=3))),
        kernel_boot=draw(st.none() | kernel_boots),
        serial=draw(st.none() | serial_specs),
        cloud_init=draw(st.none() | cloud_init_specs),
        description=draw(st.text(_TEXT + "\n\t", max_size=60)),
    )


disk_sources = st.builds(DiskSource, path=paths, format=formats, block=st.booleans())
