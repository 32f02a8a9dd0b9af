"""Helpers for testing code that uses Virtumancer against real libvirt.

Nothing here fakes libvirt: :func:`make_test_node_xml` writes a node description for libvirt's
own test driver (``test:///path/node.xml``, or ``test+unix:///path/node.xml`` through the
daemon), :func:`guest_xml` describes a tiny real QEMU/KVM guest, and :func:`virsh` runs the
real command-line client, so tests can change things "behind Virtumancer's back".
:func:`linux_guest_xml` describes a tiny guest that runs a real Linux (built by
``scripts/build-linux-guest``), for tests that need a guest OS: ACPI shutdown, reboot,
device hot-unplug, a serial console.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
import urllib.request
import uuid as uuid_mod
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "LINUX_GUEST_BANNER",
    "LINUX_GUEST_DIR",
    "free_port",
    "guest_xml",
    "linux_guest_xml",
    "make_test_node_xml",
    "stop_process",
    "virsh",
    "wait_until_healthy",
]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (for a server under test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(
    base_url: str,
    *,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    within: float = 60.0,
) -> None:
    """Poll ``{base_url}/api/v1/health`` until a ``virtumancer serve`` there answers 200.

    Raises :class:`RuntimeError` when ``process`` exits first or nothing answers within
    ``within`` seconds; the message ends with the last lines of ``log`` when given.
    """
    # urllib, not an HTTP client package: this module ships with the library; no proxy
    # from the environment for a loopback server
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"{base_url}/api/v1/health"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}){_tail(log)}")
        try:
            with opener.open(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            pass  # not listening yet, or not ready
        time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {within:g} s{_tail(log)}")


def _tail(log: Path | None, chars: int = 12_000) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + log.read_text(errors="replace")[-chars:]


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 30.0) -> int:
    """SIGTERM ``process``, SIGKILL it if it lingers past ``grace`` seconds; its exit code."""
    process.terminate()
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


#: Where ``scripts/build-linux-guest`` puts ``vmlinuz`` and ``initramfs.img`` (QEMU reads them).
LINUX_GUEST_DIR = "/var/lib/libvirt/images/virtumancer-test"
#: What the Linux guest's init prints on the serial console once it is ready (on every boot).
LINUX_GUEST_BANNER = "virtumancer-guest: ready"

_TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
_SHUTOFF = 5


def virsh(uri: str, *args: str, check: bool = True, timeout: float = 60.0) -> str:
    """Run ``virsh -c URI ARGS...`` and return its standard output.

    Raises :class:`subprocess.CalledProcessError` (with stderr) when ``check`` and virsh fails.
    """
    result = subprocess.run(
        ["virsh", "-q", "-c", uri, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return result.stdout


def _stable_uuid(prefix: str, kind: str, index: int) -> str:
    return str(uuid_mod.uuid5(uuid_mod.NAMESPACE_URL, f"virtumancer-test:{prefix}:{kind}:{index}"))


def _mac(index: int, nic: int) -> str:
    value = index * 4 + nic
    return f"52:54:00:{(value >> 16) & 0xFF:02x}:{(value >> 8) & 0xFF:02x}:{value & 0xFF:02x}"


def _test_domain(prefix: str, index: int, *, running: bool, network: str | None) -> str:
    name = f"{prefix}{index:04d}"
    memory_kib = 131072 * (1 + index % 4)
    vcpus = 1 + index % 4
    runstate = "" if running else f"<test:runstate>{_SHUTOFF}</test:runstate>"
    iface = (
        f"<interface type='network'><mac address='{_mac(index, 0)}'/>"
        f"<source network={quoteattr(network)}/><model type='virtio'/></interface>"
        if network
        else ""
    )
    return (
        f"<domain type='test' xmlns:test='{_TEST_NS}'>"
        f"<name>{escape(name)}</name><uuid>{_stable_uuid(prefix, 'domain', index)}</uuid>"
        f"<title>Test guest {index}</title>"
        f"<description>Generated by virtumancer.testing</description>"
        f"<memory unit='KiB'>{memory_kib}</memory>"
        f"<currentMemory unit='KiB'>{memory_kib}</currentMemory>"
        f"<vcpu placement='static'>{vcpus}</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>"
        "<devices>"
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='/var/lib/virtumancer-test/images/{escape(name)}.qcow2'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        f"{iface}"
        "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>"
        "<video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/>"
        "</video>"
        "</devices>"
        f"{runstate}"
        "</domain>"
    )


def make_test_node_xml(
    *,
    domains: int = 10,
    running: int | None = None,
    pools: int = 2,
    volumes_per_pool: int = 3,
    networks: int = 2,
    prefix: str = "guest-",
) -> str:
    """Return a ``<node>`` document for libvirt's test driver.

    Write it to a file and open ``test:///that/file.xml`` (in process) or
    ``test+unix:///that/file.xml`` (through libvirtd). Domains are named
    ``{prefix}0000``, ``{prefix}0001``...; the first ``running`` of them (default: half,
    rounded up) run, the rest are shut off. UUIDs are stable for a given prefix, so two
    nodes made with the same arguments describe the same guests.
    """
    if running is None:
        running = (domains + 1) // 2
    parts = ["<node>"]
    network_names = [f"{prefix}net{n}" for n in range(networks)]
    for n, net_name in enumerate(network_names):
        forward = "<forward mode='nat'/>" if n % 2 == 0 else ""
        parts.append(
            f"<network><name>{escape(net_name)}</name>"
            f"<uuid>{_stable_uuid(prefix, 'network', n)}</uuid>{forward}"
            f"<bridge name='vmtbr{n}' stp='on' delay='0'/>"
            f"<ip address='192.0.2.{1 + n}' netmask='255.255.255.255'/></network>"
        )
    for i in range(domains):
        network = network_names[i % networks] if networks else None
        parts.append(_test_domain(prefix, i, running=i < running, network=network))
    for p in range(pools):
        pool_name = f"{prefix}pool{p}"
        path = f"/var/lib/virtumancer-test/{pool_name}"
        volumes = "".join(
            f"<volume type='file'><name>{escape(pool_name)}-vol{v}.qcow2</name>"
            f"<key>{path}/{escape(pool_name)}-vol{v}.qcow2</key>"
            f"<capacity unit='bytes'>{(v + 1) * 1073741824}</capacity>"
            f"<allocation unit='bytes'>{(v + 1) * 268435456}</allocation>"
            f"<target><path>{path}/{escape(pool_name)}-vol{v}.qcow2</path>"
            "<format type='qcow2'/></target></volume>"
            for v in range(volumes_per_pool)
        )
        parts.append(
            f"<pool type='dir'><name>{escape(pool_name)}</name>"
            f"<uuid>{_stable_uuid(prefix, 'pool', p)}</uuid>"
            "<capacity unit='bytes'>107374182400</capacity>"
            "<allocation unit='bytes'>10737418240</allocation>"
            "<available unit='bytes'>96636764160</available>"
            f"<target><path>{path}</path></target>{volumes}</pool>"
        )
    parts.append("</node>")
    return "".join(parts)


def guest_xml(
    name: str,
    *,
    disk_path: str,
    domain_type: str = "kvm",
    memory_mib: int = 64,
    vnc: bool = True,
    spice: bool = True,
    guest_uuid: str | None = None,
) -> str:
    """Return the XML of a tiny real guest: no OS, a qcow2 disk, a tap NIC, VNC/SPICE, qxl.

    Use ``domain_type="qemu"`` (TCG) where ``/dev/kvm`` is missing. The guest boots into
    SeaBIOS and stays there, which is all a management test needs: it runs, has stats,
    graphics servers and a real tap interface.
    """
    return _guest_xml(
        name,
        domain_type=domain_type,
        description="Virtumancer test guest",
        memory_mib=memory_mib,
        os="<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>",
        disk_path=disk_path,
        devices="",
        vnc=vnc,
        spice=spice,
        guest_uuid=guest_uuid,
    )


def linux_guest_xml(
    name: str,
    *,
    disk_path: str,
    serial_log: str,
    memory_mib: int = 128,
    kernel: str = f"{LINUX_GUEST_DIR}/vmlinuz",
    initrd: str = f"{LINUX_GUEST_DIR}/initramfs.img",
    cmdline: str = "console=ttyS0",
    vnc: bool = True,
    spice: bool = True,
    guest_uuid: str | None = None,
) -> str:
    """Return the XML of a tiny guest that boots a real Linux from a kernel and an initramfs.

    Build those first with ``scripts/build-linux-guest``. The guest's init answers ACPI power
    button presses (``virsh shutdown`` powers it off, ``virsh reboot`` reboots it), brings up
    its NIC, and writes to the serial console, logged to ``serial_log``: the line
    :data:`LINUX_GUEST_BANNER` on every boot and ``virtumancer-guest: block add vdb`` /
    ``block remove vdb`` when a disk is hot-plugged or unplugged. It runs under TCG
    (``type='qemu'``): on nested hosts whose virtual CPU lacks features a Linux kernel can
    hang under KVM, and TCG boots it in a few seconds anyway. ``disk_path`` is a qcow2 image
    the guest sees as ``vda``; the NIC is a tap device (``type='ethernet'``), which needs no
    libvirt network and no dnsmasq.
    """
    return _guest_xml(
        name,
        domain_type="qemu",
        description="Virtumancer Linux test guest",
        memory_mib=memory_mib,
        os=(
            "<os><type arch='x86_64' machine='pc'>hvm</type>"
            f"<kernel>{escape(kernel)}</kernel><initrd>{escape(initrd)}</initrd>"
            f"<cmdline>{escape(cmdline)}</cmdline></os>"
        ),
        disk_path=disk_path,
        devices=(
            f"<serial type='file'><source path={quoteattr(serial_log)}/><target port='0'/></serial>"
        ),
        vnc=vnc,
        spice=spice,
        guest_uuid=guest_uuid,
    )


def _guest_xml(
    name: str,
    *,
    domain_type: str,
    description: str,
    memory_mib: int,
    os: str,
    disk_path: str,
    devices: str,
    vnc: bool,
    spice: bool,
    guest_uuid: str | None,
) -> str:
    """Return the XML the test guests share: one vCPU, a qcow2 disk, a tap NIC, qxl video."""
    graphics = ""
    if vnc:
        graphics += "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>"
    if spice:
        graphics += "<graphics type='spice' autoport='yes' listen='127.0.0.1'/>"
    uuid_xml = f"<uuid>{guest_uuid}</uuid>" if guest_uuid else ""
    return (
        f"<domain type={quoteattr(domain_type)}><name>{escape(name)}</name>{uuid_xml}"
        f"<description>{description}</description>"
        f"<memory unit='MiB'>{memory_mib}</memory><vcpu>1</vcpu>"
        f"{os}"
        "<features><acpi/></features>"
        "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
        "<on_crash>destroy</on_crash>"
        "<devices>"
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file={quoteattr(disk_path)}/><target dev='vda' bus='virtio'/></disk>"
        "<interface type='ethernet'><model type='virtio'/></interface>"
        f"{devices}{graphics}"
        "<video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1'"
        " primary='yes'/></video>"
        "</devices></domain>"
    )
