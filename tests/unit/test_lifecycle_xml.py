"""In-place edits of a domain's own XML: what we change changes, everything else survives."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from virtumancer import InvalidInputError, VirtumancerMetadata, parse_domain
from virtumancer._xml.lifecycle import DomainEdit, edit_domain_xml, render_volume, with_metadata

_XML = b"""<domain type='kvm'>
  <name>keep</name>
  <uuid>8f1c7f4e-3b9e-4a53-9d0c-6a4a3f1f2b11</uuid>
  <metadata><x:y xmlns:x='urn:other'>theirs</x:y></metadata>
  <memory unit='KiB'>65536</memory>
  <currentMemory unit='KiB'>65536</currentMemory>
  <vcpu placement='static' current='1'>2</vcpu>
  <cputune><shares>2048</shares></cputune>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/><readonly/></disk>
    <panic model='isa'/>
  </devices>
</domain>"""


def _canonical(xml: bytes) -> bytes:
    return etree.tostring(etree.fromstring(xml), method="c14n")


def test_an_empty_edit_changes_nothing() -> None:
    assert _canonical(edit_domain_xml(_XML, DomainEdit())) == _canonical(_XML)


def test_an_edit_changes_its_fields_and_keeps_the_rest() -> None:
    edited = edit_domain_xml(
        _XML,
        DomainEdit(
            memory_bytes=256 * 1024 * 1024,
            vcpus=4,
            description="hello",
            cdrom_media=(("sda", "/iso/install.iso"),),
        ),
    )
    domain = parse_domain(edited)
    assert (domain.memory_bytes, domain.current_memory_bytes, domain.vcpus) == (
        256 * 1024 * 1024,
        256 * 1024 * 1024,
        4,
    )
    assert domain.description == "hello"
    assert domain.devices.disks[0].source_path == "/iso/install.iso"
    for kept in (b"theirs", b"urn:other", b"<shares>2048</shares>", b"<panic"):
        assert kept in edited
    # The description sits where libvirt puts it: after the uuid.
    tags = [child.tag for child in etree.fromstring(edited)]
    assert tags[:3] == ["name", "uuid", "description"]
    ejected = parse_domain(edit_domain_xml(edited, DomainEdit(cdrom_media=(("sda", ""),))))
    assert ejected.devices.disks[0].source_path is None


def test_an_unknown_cdrom_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        edit_domain_xml(_XML, DomainEdit(cdrom_media=(("hdz", "/x.iso"),)))
    assert caught.value.field == "cdrom_media"


def test_with_metadata_adds_ours_and_keeps_theirs() -> None:
    ours = VirtumancerMetadata(
        managed_by="virtumancer", imported_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), version="1"
    )
    marked = with_metadata(_XML, ours)
    assert parse_domain(marked).metadata == ours
    assert b"theirs" in marked
    assert parse_domain(with_metadata(marked, ours)).metadata == ours  # replaced, not doubled
    assert with_metadata(marked, ours).count(b"<virtumancer:managed-by>") == 1


def test_an_overlay_volume_names_its_backing_file() -> None:
    volume = etree.fromstring(
        render_volume(
            "o.qcow2", 1024, format="qcow2", backing_path="/base.img", backing_format="raw"
        )
    )
    assert volume.findtext("backingStore/path") == "/base.img"
    assert volume.find("backingStore/format").get("type") == "raw"  # type: ignore[union-attr]
    assert volume.find("target/format").get("type") == "qcow2"  # type: ignore[union-attr]
