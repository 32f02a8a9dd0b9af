"""Shared fixtures: real hypervisors, created and cleaned up by the suite itself.

Everything here is real: KVM guests on ``qemu:///system``, libvirt's test driver in process
(``test:///``) and through the daemon (``test+unix:///``), ``qemu+ssh`` through the loopback
sshd, and a throwaway PostgreSQL cluster. ``scripts/provision-libvirt`` installs and starts
what they need. Names start with a per-run prefix (``vmt-<epoch>-<random>-``) so a crashed run
never collides with the next, and leftovers older than a few hours are swept at start.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, settings

from virtumancer.testing import (
    LINUX_GUEST_BANNER,
    LINUX_GUEST_DIR,
    free_port,
    guest_xml,
    linux_guest_xml,
    make_test_node_xml,
    virsh,
)

QEMU_URI = "qemu:///system"
IMAGES_DIR = Path("/var/lib/libvirt/images")
# Installed under ~/.ssh by scripts/provision-libvirt: the URI policy confines keyfile= there.
SSH_KEY = Path.home() / ".ssh" / "virtumancer-test_ed25519"
SSH_PORT = int(os.environ.get("VIRTUMANCER_SSH_PORT", "2222"))
_STALE_AFTER_S = 3 * 3600
_PREFIX_RE = re.compile(r"^vmt-(\d+)-[0-9a-f]+-")

_TESTS_DIR = Path(__file__).parent

# The suite must be deterministic on a noisy 2-core machine: no per-example deadlines, and in
# CI the same examples every run (developers keep random exploration).
settings.register_profile(
    "virtumancer",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("virtumancer")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unit_dir = _TESTS_DIR / "unit"
    for item in items:
        if unit_dir in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def anyio_backend() -> str:
    # libvirtaio integrates with asyncio only.
    return "asyncio"


# --- the daemon ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def libvirtd() -> str:
    """Ensure libvirtd answers on qemu:///system; fail with the fix if not."""
    try:
        virsh(QEMU_URI, "version", timeout=15)
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired) as exc:
        pytest.fail(
            f"libvirtd is not reachable ({exc}); run `scripts/provision-libvirt` as root first",
            pytrace=False,
        )
    return QEMU_URI


@pytest.fixture(scope="session")
def run_prefix(libvirtd: str) -> str:
    """Return this run's unique name prefix, after sweeping stale guests of crashed runs."""
    _sweep_stale_guests()
    return f"vmt-{int(time.time())}-{secrets.token_hex(2)}-"


def _sweep_stale_guests() -> None:
    names = virsh(QEMU_URI, "list", "--all", "--name", check=False).split()
    now = time.time()
    for name in names:
        match = _PREFIX_RE.match(name)
        if match and now - int(match.group(1)) > _STALE_AFTER_S:
            _remove_guest(name)
    for image in [*IMAGES_DIR.glob("vmt-*.qcow2"), *IMAGES_DIR.glob("vmt-*.serial.log")]:
        match = _PREFIX_RE.match(image.name)
        if match and now - int(match.group(1)) > _STALE_AFTER_S:
            image.unlink(missing_ok=True)


def _remove_guest(name: str) -> None:
    virsh(QEMU_URI, "destroy", name, check=False)
    virsh(QEMU_URI, "undefine", name, "--managed-save", "--snapshots-metadata", check=False)


# --- real KVM guests ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Guest:
    """A tiny real guest on qemu:///system made for one test."""

    name: str
    uuid: str
    uri: str
    disk_path: Path

    def state(self) -> str:
        """Return the state as ``virsh domstate`` prints it (``running``, ``shut off``...)."""
        return virsh(self.uri, "domstate", self.name).strip()


GuestFactory = Callable[..., Guest]


@pytest.fixture
def kvm_guest_factory(run_prefix: str) -> Iterator[GuestFactory]:
    """Make tiny real guests (64 MiB, qcow2 disk, tap NIC, VNC + SPICE, qxl); removed after."""
    made: list[Guest] = []
    domain_type = "kvm" if os.path.exists("/dev/kvm") else "qemu"

    def make(*, start: bool = True, name: str | None = None, **xml_options: object) -> Guest:
        guest_name = f"{run_prefix}{name or secrets.token_hex(3)}"
        disk = IMAGES_DIR / f"{guest_name}.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"],
            check=True,
            capture_output=True,
        )
        xml = guest_xml(guest_name, disk_path=str(disk), domain_type=domain_type, **xml_options)  # type: ignore[arg-type]
        with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as handle:
            handle.write(xml)
        try:
            virsh(QEMU_URI, "define", handle.name)
        finally:
            os.unlink(handle.name)
        guest = Guest(
            name=guest_name,
            uuid=virsh(QEMU_URI, "domuuid", guest_name).strip(),
            uri=QEMU_URI,
            disk_path=disk,
        )
        made.append(guest)
        if start:
            virsh(QEMU_URI, "start", guest_name)
        return guest

    yield make
    for guest in made:
        _remove_guest(guest.name)
        guest.disk_path.unlink(missing_ok=True)


@pytest.fixture
def kvm_guest(kvm_guest_factory: GuestFactory) -> Guest:
    """Return one running tiny guest on qemu:///system."""
    return kvm_guest_factory()


# --- a real Linux guest (TCG) -------------------------------------------------------------

# Generous: TCG on a busy 2-core machine boots in seconds, but other tests share the cores.
_LINUX_TIMEOUT_S = 120.0


@attrs.frozen(kw_only=True)
class LinuxGuest(Guest):
    """A guest running the tiny Linux of ``scripts/build-linux-guest``; its console is a file."""

    serial_log: Path

    def serial(self) -> str:
        """Return everything the guest wrote to its serial console since it was last started."""
        try:
            return self.serial_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


LinuxGuestFactory = Callable[..., LinuxGuest]


def wait_for_serial(
    guest: LinuxGuest, text: str, timeout: float = _LINUX_TIMEOUT_S, *, count: int = 1
) -> str:
    """Wait until ``text`` appears ``count`` times in the guest's serial log; return the log.

    Fails the test (with the log's tail) when the timeout passes first.
    """
    deadline = time.monotonic() + timeout
    while True:
        log = guest.serial()
        if log.count(text) >= count:
            return log
        if time.monotonic() > deadline:
            pytest.fail(
                f"{text!r} did not appear {count}x in {guest.name}'s serial log within "
                f"{timeout:.0f} s; state {guest.state()!r}; log tail:\n{log[-2000:]}",
                pytrace=False,
            )
        time.sleep(0.1)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = _LINUX_TIMEOUT_S) -> None:
    """Poll ``predicate`` until it holds; fail the test saying ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.1)


@pytest.fixture(scope="session")
def linux_guest_files(libvirtd: str) -> tuple[Path, Path]:
    """Return the kernel and initramfs built by ``scripts/build-linux-guest``."""
    kernel = Path(LINUX_GUEST_DIR) / "vmlinuz"
    initrd = Path(LINUX_GUEST_DIR) / "initramfs.img"
    if not (kernel.is_file() and initrd.is_file()):
        pytest.fail(
            f"no Linux test guest in {LINUX_GUEST_DIR}; run `scripts/build-linux-guest` "
            "(or `scripts/provision-libvirt`) as root first",
            pytrace=False,
        )
    return kernel, initrd


@pytest.fixture
def linux_guest_factory(
    run_prefix: str, linux_guest_files: tuple[Path, Path]
) -> Iterator[LinuxGuestFactory]:
    """Make guests that boot a real Linux under TCG (128 MiB, qcow2 ``vda``, tap NIC, VNC +
    SPICE, qxl, serial console logged to a file); removed after, with every file named after
    them (``NAME.*`` and ``NAME-*``: name hot-plugged disks so).

    ``make(start=True)`` returns once the guest printed its ready banner.
    """
    made: list[LinuxGuest] = []
    kernel, initrd = linux_guest_files

    def make(*, start: bool = True, name: str | None = None, **xml_options: object) -> LinuxGuest:
        guest_name = f"{run_prefix}{name or secrets.token_hex(3)}"
        disk = IMAGES_DIR / f"{guest_name}.qcow2"
        serial_log = IMAGES_DIR / f"{guest_name}.serial.log"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"],
            check=True,
            capture_output=True,
        )
        xml = linux_guest_xml(
            guest_name,
            disk_path=str(disk),
            serial_log=str(serial_log),
            kernel=str(kernel),
            initrd=str(initrd),
            **xml_options,  # type: ignore[arg-type]
        )
        with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as handle:
            handle.write(xml)
        try:
            virsh(QEMU_URI, "define", handle.name)
        finally:
            os.unlink(handle.name)
        guest = LinuxGuest(
            name=guest_name,
            uuid=virsh(QEMU_URI, "domuuid", guest_name).strip(),
            uri=QEMU_URI,
            disk_path=disk,
            serial_log=serial_log,
        )
        made.append(guest)
        if start:
            virsh(QEMU_URI, "start", guest_name)
            wait_for_serial(guest, LINUX_GUEST_BANNER)
        return guest

    yield make
    for guest in made:
        _remove_guest(guest.name)
        for pattern in (f"{guest.name}.*", f"{guest.name}-*"):
            for leftover in IMAGES_DIR.glob(pattern):
                leftover.unlink(missing_ok=True)


@pytest.fixture
def linux_guest(linux_guest_factory: LinuxGuestFactory) -> LinuxGuest:
    """Return one running Linux guest that has printed its ready banner."""
    return linux_guest_factory()


# --- libvirt's test driver -------------------------------------------------------------

NodeFactory = Callable[..., Path]


@pytest.fixture
def test_node_factory(tmp_path_factory: pytest.TempPathFactory) -> NodeFactory:
    """Write test-driver node files; see :func:`virtumancer.testing.make_test_node_xml`.

    Note: every connection to a custom node file gets its own copy of the node's state; only
    ``test:///default`` is shared between connections (within one process or one daemon).
    """

    def make(**options: object) -> Path:
        directory = tmp_path_factory.mktemp("node")
        path = directory / "node.xml"
        path.write_text(make_test_node_xml(**options))  # type: ignore[arg-type]
        # libvirtd runs as root and reads the file itself.
        directory.chmod(0o755)
        path.chmod(0o644)
        return path

    return make


@pytest.fixture
def test_uri(test_node_factory: NodeFactory) -> str:
    """Return an in-process test-driver URI with 10 domains, 2 pools and 2 networks."""
    return f"test://{test_node_factory(domains=10)}"


@pytest.fixture
def test_unix_uri(test_node_factory: NodeFactory, libvirtd: str) -> str:
    """Return the same kind of node served through libvirtd (a real RPC per call)."""
    return f"test+unix://{test_node_factory(domains=10)}"


# --- qemu+ssh through the loopback sshd -------------------------------------------------


@pytest.fixture(scope="session")
def ssh_uri(libvirtd: str) -> str:
    """Return a qemu+ssh URI to this machine's libvirtd through the loopback sshd."""
    if not SSH_KEY.exists():
        pytest.fail("no test SSH key; run `scripts/provision-libvirt` first", pytrace=False)
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex(("127.0.0.1", SSH_PORT)) != 0:
            pytest.fail(f"no sshd on 127.0.0.1:{SSH_PORT}; run `scripts/provision-libvirt`")
    return f"qemu+ssh://root@127.0.0.1:{SSH_PORT}/system?keyfile={SSH_KEY}&no_verify=1"


# --- PostgreSQL -----------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    pytest.fail(f"PostgreSQL's {name} not found; run `scripts/provision-libvirt`", pytrace=False)


_TRUST = ("-U", "postgres", "-A", "trust")


class PostgresCluster:
    """A throwaway PostgreSQL cluster on a free loopback port (``initdb``, ``pg_ctl``)."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="vmt-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        shutil.chown(self.base, "postgres") if os.geteuid() == 0 else None
        subprocess.run(
            [*self._as_postgres, _pg_bin("initdb"), "-D", str(self.data), *_TRUST],
            check=True,
            capture_output=True,
        )

    @property
    def _server(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its ``virtumancer`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/virtumancer"

    def start(self) -> None:
        """Start the server (again) and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = ["-l", str(self.base / "log"), "-w"]
        subprocess.run(
            [
                *self._as_postgres,
                _pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                *log,
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: like a crash, no clean shutdown)."""
        subprocess.run(
            [*self._as_postgres, _pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "stop"],
            check=False,
            capture_output=True,
        )

    def create_database(self) -> None:
        """Create the ``virtumancer`` database."""
        subprocess.run(
            [*self._as_postgres, _pg_bin("createdb"), *self._server, "virtumancer"],
            check=True,
            capture_output=True,
        )

    def remove(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A started throwaway cluster with an empty ``virtumancer`` database; removed after."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster on a free loopback port; yield its SQLAlchemy URL."""
    with postgres_cluster() as cluster:
        yield cluster.url


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create an empty database on the cluster of ``server_url``; yield its URL; drop it."""
    from sqlalchemy import create_engine, make_url, text

    name = f"vmt_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # a generated name, not input
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_database_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the suite's throwaway cluster."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster of this test's own (it may stop and start it)."""
    with postgres_cluster() as cluster:
        yield cluster
