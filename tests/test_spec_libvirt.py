"""libvirt itself accepts the domain XML rendered from our golden specs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.unit.test_spec_render import GOLDEN_SPECS, render_golden
from virtumancer.testing import virsh

pytestmark = pytest.mark.libvirt

QEMU_URI = "qemu:///system"
DefineFile = Callable[[str], tuple[str, Path]]


@pytest.fixture
def define_file(tmp_path: Path, run_prefix: str) -> Iterator[DefineFile]:
    """Yield (name, path) for one golden document under this run's unique name; undefine it."""
    names: list[str] = []

    def write(golden: str) -> tuple[str, Path]:
        root = etree.fromstring(render_golden(golden))
        name_element, uuid_element = root.find("name"), root.find("uuid")
        assert name_element is not None
        assert uuid_element is not None
        name = f"{run_prefix}{name_element.text}"
        name_element.text = name
        # A fixed UUID would collide with a crashed run's leftover; libvirt picks one.
        root.remove(uuid_element)
        path = tmp_path / golden
        path.write_bytes(etree.tostring(root))
        names.append(name)
        return name, path

    yield write
    for name in names:
        virsh(QEMU_URI, "undefine", name, "--nvram", check=False)


@pytest.mark.parametrize("golden", sorted(GOLDEN_SPECS))
def test_qemu_driver_validates_and_defines_the_golden_spec(
    define_file: DefineFile, golden: str
) -> None:
    name, path = define_file(golden)
    virsh(QEMU_URI, "define", "--validate", str(path))
    dumped = virsh(QEMU_URI, "dumpxml", "--inactive", name)
    assert "https://virtumancer.dev/xmlns/domain/1" in dumped
    virsh(QEMU_URI, "undefine", name, "--nvram")
    assert name not in virsh(QEMU_URI, "list", "--all", "--name").split()


@pytest.mark.parametrize("golden", sorted(GOLDEN_SPECS))
def test_test_driver_defines_the_golden_spec(define_file: DefineFile, golden: str) -> None:
    name, path = define_file(golden)
    # test:///default lives in the virsh process: one virsh call defines and looks, and
    # leaves nothing behind.
    assert virsh("test:///default", f"define {path}; domstate {name}").strip() == "shut off"
