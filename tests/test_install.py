"""Install like a library: build the sdist and wheel, install the wheel in a clean virtualenv
(no repository files around) and use it from there: the service, the sync facade, the CLI
and an Ansible module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import free_port

ROOT = Path(__file__).parents[1]


def _clean_env(home: Path) -> dict[str, str]:
    # Nothing of this checkout or of its virtualenv may leak into the installed one.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "ANSIBLE_", "VIRTUMANCER_", "VIRTUAL_ENV"))
    }
    return {**env, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}


class Installed:
    """A virtualenv in a temporary directory with the built wheel installed."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.wheel = wheel
        self.bin = root / "venv" / "bin"
        self.home = root / "home"
        self.env = _clean_env(self.home)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    dist = root / "dist"
    # From the sdist, as `python -m build` does: the sdist must hold all the wheel needs.
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("virtumancer-*.whl")
    (root / "home").mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    box = Installed(root, wheel)
    # The dependencies come from the package index (pip's cache makes later runs quick).
    box.run("pip", "install", "-q", str(wheel), "ansible-core", timeout=900)
    return box


def test_the_wheel_carries_the_licences_and_the_collection(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    licences = {name.split(".dist-info/licenses/", 1)[1] for name in names if "/licenses/" in name}
    assert {"LICENSE", "NOTICE"} <= licences
    for vendored in (
        "src/virtumancer_server/static/console/novnc/LICENSE.txt",
        "src/virtumancer_server/static/console/spice-html5/COPYING.LESSER",
        "src/virtumancer_server/static/vendor/swagger-ui/NOTICE",
    ):
        assert vendored in licences
    assert "ansible_collections/virtumancer/libvirt/plugins/modules/vm.py" in names


def test_the_library_comes_from_the_virtualenv(installed: Installed) -> None:
    out = installed.run(
        "python", "-I", "-c", "import virtumancer, virtumancer_server; print(virtumancer.__file__)"
    ).stdout
    assert out.startswith(str(installed.root / "venv"))


def test_the_sync_facade_reads_the_test_driver(installed: Installed) -> None:
    script = (
        "import json, virtumancer\n"
        "with virtumancer.connect('test:///default') as host:\n"
        "    print(json.dumps([d.name for d in host.domains()]))\n"
    )
    assert json.loads(installed.run("python", "-I", "-c", script).stdout) == ["test"]


def test_the_cli_lists_vms_as_json(installed: Installed) -> None:
    out = installed.run("virtumancer", "vms", "list", "-c", "test:///default", "-o", "json").stdout
    assert [vm["name"] for vm in json.loads(out)] == ["test"]


def test_an_ansible_module_runs_from_the_installed_collection(installed: Installed) -> None:
    # No ANSIBLE_COLLECTIONS_PATH: ansible-core finds ansible_collections/ in site-packages.
    out = installed.run(
        "ansible",
        "localhost",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={installed.bin / 'python'}",
        "-m",
        "virtumancer.libvirt.vm_info",
        "-a",
        "uri=test:///default",
    ).stdout
    head, _, body = out.partition(" => ")
    assert head.strip() == "localhost | SUCCESS"
    result = json.loads(body)
    assert [vm["name"] for vm in result["vms"]] == ["test"]
    assert result["changed"] is False


def test_serve_demo_answers_health(installed: Installed) -> None:
    port = free_port()
    log = installed.root / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                str(installed.bin / "virtumancer"),
                "serve",
                "--demo",
                "--no-auth",
                "--port",
                str(port),
            ],
            cwd=installed.home,
            env=installed.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert health.status_code == 200
        hosts = httpx.get(f"{url}/hosts", timeout=10).json()
        assert hosts  # the demo host
    finally:
        process.terminate()
        process.wait(timeout=30)
