"""Golden XML captured from the real drivers parses into the reviewed models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import attrs
import pytest

from virtumancer._xml import (
    parse_capabilities,
    parse_disk,
    parse_domain,
    parse_graphics,
    parse_hostdev,
    parse_interface,
    parse_metadata,
    parse_network,
    parse_node_device,
    parse_storage_pool,
    parse_storage_volume,
    parse_video,
    render_disk,
    render_domain,
    render_graphics,
    render_hostdev,
    render_interface,
    render_video,
)
from virtumancer.models import Domain

DATA = Path(__file__).parent.parent / "data" / "xml"


def _load_expected() -> dict[str, object]:
    spec = importlib.util.spec_from_file_location("golden_expected", DATA / "expected.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected: dict[str, object] = module.EXPECTED
    return expected


EXPECTED = _load_expected()
# spec/ holds rendered specs, checked byte for byte by test_spec_render.py.
GOLDEN = sorted(
    str(path.relative_to(DATA))
    for path in DATA.rglob("*.xml")
    if path.relative_to(DATA).parts[0] != "spec"
)


def _parse(relative: str) -> object:
    data = (DATA / relative).read_bytes()
    kind = relative.split("/", 1)[0]
    if kind == "domain":
        return parse_domain(data)
    if kind == "capabilities":
        return parse_capabilities(data)
    if kind == "pool":
        return parse_storage_pool(data)
    if kind == "volume":
        return parse_storage_volume(data, pool_name="golden-pool")
    if kind == "network":
        return parse_network(data)
    if kind == "nodedev":
        return parse_node_device(data)
    if kind == "metadata":
        return parse_metadata(data)
    raise AssertionError(f"no parser for {relative}")


def test_every_golden_file_has_an_expected_model() -> None:
    assert sorted(EXPECTED) == GOLDEN


@pytest.mark.parametrize("relative", GOLDEN)
def test_golden_file_parses_to_expected_model(relative: str) -> None:
    assert _parse(relative) == EXPECTED[relative]


@pytest.mark.parametrize("relative", GOLDEN)
def test_golden_file_also_parses_from_str(relative: str) -> None:
    # libvirt's Python binding returns str, not bytes.
    text = (DATA / relative).read_text()
    if relative.startswith("domain/"):
        assert parse_domain(text) == EXPECTED[relative]


DOMAINS = [name for name in GOLDEN if name.startswith("domain/")]


@pytest.mark.parametrize("relative", DOMAINS)
def test_real_domain_renders_and_reparses_to_same_model(relative: str) -> None:
    domain = _parse(relative)
    assert isinstance(domain, Domain)
    passwords = ["pw" if g.has_password else None for g in domain.devices.graphics]
    assert parse_domain(render_domain(domain, graphics_passwords=passwords)) == domain


@pytest.mark.parametrize("relative", DOMAINS)
def test_real_devices_render_and_reparse_one_by_one(relative: str) -> None:
    domain = _parse(relative)
    assert isinstance(domain, Domain)
    devices = domain.devices
    for disk in devices.disks:
        assert parse_disk(render_disk(disk)) == disk
    for nic in devices.interfaces:
        assert parse_interface(render_interface(nic)) == nic
    for graphics in devices.graphics:
        password = "secret" if graphics.has_password else None
        assert parse_graphics(render_graphics(graphics, password=password)) == graphics
    for video in devices.videos:
        assert parse_video(render_video(video)) == video
    for hostdev in devices.hostdevs:
        assert parse_hostdev(render_hostdev(hostdev)) == hostdev


def test_password_is_seen_but_never_kept() -> None:
    secure = (DATA / "domain" / "kvm-full-inactive-secure.xml").read_bytes()
    assert b"s3cretvn" in secure
    domain = parse_domain(secure)
    assert [g.has_password for g in domain.devices.graphics] == [True, True]
    assert "s3cret" not in repr(domain)
    assert all("s3cret" not in str(attrs.asdict(g)) for g in domain.devices.graphics)


def test_xml_without_security_info_does_not_show_the_password() -> None:
    # What the pool must know: XMLDesc() without VIR_DOMAIN_XML_SECURE hides passwd.
    plain = parse_domain((DATA / "domain" / "kvm-full-inactive.xml").read_bytes())
    assert [g.has_password for g in plain.devices.graphics] == [False, False]


def test_pci_address_prints_like_lspci() -> None:
    domain = parse_domain((DATA / "domain" / "kvm-full-inactive.xml").read_bytes())
    (hostdev,) = domain.devices.hostdevs
    assert str(hostdev.pci_address) == "0000:00:04.0"


def test_running_domain_has_live_ports_and_id() -> None:
    domain = parse_domain((DATA / "domain" / "kvm-running.xml").read_bytes())
    assert domain.id is not None
    ports = [g.port for g in domain.devices.graphics]
    assert all(port is not None and port >= 5900 for port in ports)
    assert domain.devices.interfaces[0].target_dev is not None


def test_graphics_on_a_unix_socket() -> None:
    graphics = parse_graphics(
        b"<graphics type='vnc' autoport='no'>"
        b"<listen type='socket' socket='/run/libvirt/qemu/vnc.sock'/></graphics>"
    )
    assert graphics.socket_path == "/run/libvirt/qemu/vnc.sock"
    assert graphics.listen is None
    assert graphics.port is None
