"""Re-capture the golden XML files in this directory from the real drivers on this machine.

Run as root on a machine with libvirtd (``.venv/bin/python tests/data/xml/capture.py``). It
defines (and briefly starts) throwaway ``vmt-golden-*`` guests on ``qemu:///system``, dumps
their XML, and removes them again. The expected models (``expected.py``) are written by hand
and reviewed; re-capturing may change values such as ports, PCI slots or MAC addresses.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
QEMU = "qemu:///system"
TEST = "test:///default"
IMAGES = Path("/var/lib/libvirt/images")
NS = "https://virtumancer.dev/xmlns/domain/1"

FULL_GUEST = """\
<domain type='kvm'>
  <name>vmt-golden-full</name>
  <uuid>7a6c1f0e-3b52-4d0e-9c55-0a1b2c3d4e5f</uuid>
  <title>Golden guest</title>
  <description>Every device Virtumancer models &amp; a bit more</description>
  <memory unit='MiB'>128</memory>
  <currentMemory unit='MiB'>96</currentMemory>
  <vcpu placement='static' current='1'>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <serial>GOLDEN-0001</serial>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <shareable/>
    </disk>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <controller type='sata' index='0'/>
    <controller type='virtio-serial' index='0'/>
    <interface type='ethernet'>
      <mac address='52:54:00:aa:00:01'/>
      <model type='virtio'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:aa:00:02'/>
      <source network='vmt-golden-net' portgroup='vlan100'/>
      <model type='e1000'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:aa:00:03'/>
      <source bridge='br0'/>
      <vlan trunk='yes'><tag id='100'/><tag id='200'/></vlan>
      <virtualport type='openvswitch'/>
      <model type='virtio'/>
    </interface>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/var/lib/libvirt/images'/>
      <target dir='images'/>
      <readonly/>
    </filesystem>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
    <input type='tablet' bus='usb'/>
    <tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='s3cretvn'/>
    <graphics type='spice' autoport='yes' listen='127.0.0.1' passwd='s3cret-spice'/>
    <sound model='ich9'/>
    <video>
      <model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/>
    </video>
    <video><model type='virtio' heads='2'><acceleration accel3d='no'/></model></video>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></source>
    </hostdev>
    <watchdog model='i6300esb' action='reset'/>
    <memballoon model='virtio'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
"""

RUNNING_GUEST = """\
<domain type='kvm'>
  <name>vmt-golden-running</name>
  <uuid>7a6c1f0e-3b52-4d0e-9c55-0a1b2c3d4e60</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'><mac address='52:54:00:aa:01:01'/><model type='virtio'/></interface>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='s3cretvn'/>
    <graphics type='spice' autoport='yes' listen='127.0.0.1'/>
    <video><model type='qxl' primary='yes'/></video>
  </devices>
</domain>
"""

METADATA = (
    "<instance><managed-by>virtumancer</managed-by>"
    "<imported-at>2026-11-25T12:00:00Z</imported-at>"
    "<imported-by>admin</imported-by><version>0.1.0</version></instance>"
)


def virsh(uri: str, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["virsh", "-q", "-c", uri, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def save(kind: str, name: str, xml: str) -> None:
    (HERE / kind).mkdir(exist_ok=True)
    (HERE / kind / f"{name}.xml").write_text(xml)
    print(f"wrote {kind}/{name}.xml")


def define(xml: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as handle:
        handle.write(xml)
        handle.flush()
        virsh(QEMU, "define", handle.name)


def capture_qemu_guests() -> None:
    disk = IMAGES / "vmt-golden-full.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    try:
        define(FULL_GUEST.format(disk=disk))
        virsh(
            QEMU,
            "metadata",
            "vmt-golden-full",
            "--config",
            "--uri",
            NS,
            "--key",
            "virtumancer",
            "--set",
            METADATA,
        )
        save("domain", "kvm-full-inactive", virsh(QEMU, "dumpxml", "vmt-golden-full"))
        save(
            "domain",
            "kvm-full-inactive-secure",
            virsh(QEMU, "dumpxml", "--security-info", "vmt-golden-full"),
        )
        save(
            "metadata",
            "libvirt-element",
            virsh(QEMU, "metadata", "vmt-golden-full", "--config", "--uri", NS),
        )
    finally:
        virsh(QEMU, "undefine", "vmt-golden-full", check=False)
        disk.unlink(missing_ok=True)

    disk = IMAGES / "vmt-golden-running.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    try:
        define(RUNNING_GUEST.format(disk=disk))
        virsh(QEMU, "start", "vmt-golden-running")
        save("domain", "kvm-running", virsh(QEMU, "dumpxml", "vmt-golden-running"))
        capture_stats_record("vmt-golden-running")
    finally:
        virsh(QEMU, "destroy", "vmt-golden-running", check=False)
        virsh(QEMU, "undefine", "vmt-golden-running", check=False)
        disk.unlink(missing_ok=True)


def capture_stats_record(name: str) -> None:
    """Save one real getAllDomainStats() record (as JSON) of a running guest."""
    import json

    import libvirt

    connection = libvirt.open(QEMU)
    try:
        domain = connection.lookupByName(name)
        ((_, record),) = connection.domainListGetStats([domain], 0, 0)
    finally:
        connection.close()
    (HERE / "stats").mkdir(exist_ok=True)
    path = HERE / "stats" / "kvm-running.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(HERE)}")


def capture_host() -> None:
    save("capabilities", "qemu-system", virsh(QEMU, "capabilities"))
    save("capabilities", "test-default", virsh(TEST, "capabilities"))
    for name in virsh(QEMU, "nodedev-list").split():
        if name.startswith(("pci_", "net_", "block_", "computer")):
            save("nodedev", name, virsh(QEMU, "nodedev-dumpxml", name))


def capture_test_driver() -> None:
    save("domain", "test-default", virsh(TEST, "dumpxml", "test"))
    save("pool", "test-default-pool", virsh(TEST, "pool-dumpxml", "default-pool"))
    save("network", "test-default", virsh(TEST, "net-dumpxml", "default"))
    for volume in virsh(TEST, "vol-list", "default-pool").split("\n"):
        if volume.strip():
            name = volume.split()[0]
            save(
                "volume", f"test-{name}", virsh(TEST, "vol-dumpxml", "--pool", "default-pool", name)
            )


def capture_qemu_storage() -> None:
    directory = Path(tempfile.mkdtemp(prefix="vmt-golden-pool-"))
    pool = "vmt-golden-pool"
    try:
        virsh(QEMU, "pool-define-as", pool, "dir", "--target", str(directory))
        virsh(QEMU, "pool-start", pool)
        virsh(QEMU, "vol-create-as", pool, "vmt-golden-vol.qcow2", "64M", "--format", "qcow2")
        virsh(QEMU, "vol-create-as", pool, "vmt-golden-raw.img", "1M", "--format", "raw")
        save("pool", "qemu-dir-running", virsh(QEMU, "pool-dumpxml", pool))
        for volume in ("vmt-golden-vol.qcow2", "vmt-golden-raw.img"):
            save("volume", f"qemu-{volume}", virsh(QEMU, "vol-dumpxml", "--pool", pool, volume))
            virsh(QEMU, "vol-delete", "--pool", pool, volume)
        virsh(QEMU, "pool-destroy", pool)
        save("pool", "qemu-dir-inactive", virsh(QEMU, "pool-dumpxml", pool))
    finally:
        virsh(QEMU, "pool-destroy", pool, check=False)
        virsh(QEMU, "pool-undefine", pool, check=False)
        with contextlib.suppress(OSError):
            directory.rmdir()


ISOLATED_NETWORK = """\
<network>
  <name>vmt-golden-isolated</name>
  <uuid>5d1c3a9e-8f7b-4e2a-9c1d-0e2f3a4b5c6d</uuid>
  <bridge name='vmtgold0'/>
  <ip address='10.99.0.1' netmask='255.255.255.0'/>
</network>
"""

BRIDGE_NETWORK = """\
<network>
  <name>vmt-golden-bridge</name>
  <uuid>5d1c3a9e-8f7b-4e2a-9c1d-0e2f3a4b5c6e</uuid>
  <forward mode='bridge'/>
  <bridge name='br0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='vlan100'><vlan><tag id='100'/></vlan></portgroup>
</network>
"""


def capture_qemu_networks() -> None:
    for name, xml in (("isolated", ISOLATED_NETWORK), ("bridge", BRIDGE_NETWORK)):
        network = f"vmt-golden-{name}"
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as handle:
            handle.write(xml)
            handle.flush()
            virsh(QEMU, "net-define", handle.name)
        try:
            save("network", f"qemu-{name}", virsh(QEMU, "net-dumpxml", network))
        finally:
            virsh(QEMU, "net-undefine", network, check=False)


def check_render_round_trip() -> None:
    """Define a guest from render_domain() of the golden model; libvirt must give it back."""
    import attrs

    from virtumancer._xml import parse_domain, render_domain

    golden = parse_domain((HERE / "domain" / "kvm-full-inactive-secure.xml").read_bytes())
    golden = attrs.evolve(
        golden, name="vmt-golden-render", uuid="7a6c1f0e-3b52-4d0e-9c55-0a1b2c3d4e99"
    )
    define(render_domain(golden, graphics_passwords=["abcdefgh", "spicepw"]).decode())
    try:
        again = parse_domain(virsh(QEMU, "dumpxml", "--security-info", "vmt-golden-render"))
    finally:
        virsh(QEMU, "undefine", "vmt-golden-render", check=False)
    if again != golden:
        raise SystemExit(f"render_domain round trip through libvirt differs:\n{again}\n{golden}")
    print("render_domain -> libvirt define -> dumpxml -> parse_domain: identical")


def main() -> None:
    capture_qemu_networks()
    capture_qemu_storage()
    capture_test_driver()
    capture_host()
    with contextlib.suppress(KeyboardInterrupt):
        capture_qemu_guests()
    check_render_round_trip()


if __name__ == "__main__":
    main()
