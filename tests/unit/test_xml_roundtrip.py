"""Model -> XML -> model is the identity for everything we model."""

from __future__ import annotations

from hypothesis import given, settings

from tests.unit import model_strategies as ms
from virtumancer._xml import (
    parse_disk,
    parse_domain,
    parse_graphics,
    parse_hostdev,
    parse_interface,
    parse_metadata,
    parse_video,
    render_controller,
    render_disk,
    render_domain,
    render_graphics,
    render_hostdev,
    render_interface,
    render_metadata,
    render_video,
)
from virtumancer._xml._parser import parse_xml
from virtumancer._xml.devices import controller_from_element
from virtumancer.models import (
    Controller,
    Disk,
    Domain,
    Graphics,
    HostDevice,
    Interface,
    Video,
    VirtumancerMetadata,
)


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.disks)
def test_disk_round_trip(disk: Disk) -> None:
    assert parse_disk(render_disk(disk)) == disk


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.interfaces)
def test_interface_round_trip(interface: Interface) -> None:
    assert parse_interface(render_interface(interface)) == interface


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.graphics)
def test_graphics_round_trip(graphics: Graphics) -> None:
    password = "pw" if graphics.has_password else None
    assert parse_graphics(render_graphics(graphics, password=password)) == graphics


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.graphics)
def test_graphics_render_never_invents_a_password(graphics: Graphics) -> None:
    assert b"passwd" not in render_graphics(graphics)


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.videos)
def test_video_round_trip(video: Video) -> None:
    assert parse_video(render_video(video)) == video


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.hostdevs)
def test_hostdev_round_trip(hostdev: HostDevice) -> None:
    assert parse_hostdev(render_hostdev(hostdev)) == hostdev


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.controllers)
def test_controller_round_trip(controller: Controller) -> None:
    assert controller_from_element(parse_xml(render_controller(controller))) == controller


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.metadata)
def test_metadata_round_trip(metadata: VirtumancerMetadata) -> None:
    assert parse_metadata(render_metadata(metadata)) == metadata


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(ms.domains)
def test_domain_round_trip(domain: Domain) -> None:
    passwords = ["pw" if g.has_password else None for g in domain.devices.graphics]
    assert parse_domain(render_domain(domain, graphics_passwords=passwords)) == domain
