"""Hostile or broken XML is refused with XMLParseError, quickly, reading nothing else."""

from __future__ import annotations

import pytest

from virtumancer._xml import (
    MAX_XML_BYTES,
    parse_capabilities,
    parse_domain,
    parse_metadata,
    parse_network,
    parse_node_device,
    parse_storage_pool,
    parse_storage_volume,
    parse_xml,
)
from virtumancer.exceptions import InvalidInputError, XMLParseError


def _billion_laughs() -> bytes:
    entities = [b'<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        entities.append(b'<!ENTITY lol%d "%s">' % (level, b"&lol%d;" % (level - 1) * 10))
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE domain [' + b"".join(entities) + b"]>\n"
        b"<domain type='kvm'><name>&lol9;</name></domain>"
    )


HOSTILE = {
    "billion-laughs": _billion_laughs(),
    "xxe-file": (
        b'<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<domain><name>&x;</name></domain>"
    ),
    "xxe-parameter-entity": (
        b'<!DOCTYPE domain [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'
        b"<domain><name>x</name></domain>"
    ),
    "external-dtd": (
        b'<!DOCTYPE domain SYSTEM "http://127.0.0.1:9/evil.dtd"><domain><name>x</name></domain>'
    ),
    "external-dtd-file": (
        b'<!DOCTYPE domain SYSTEM "file:///etc/passwd"><domain><name>x</name></domain>'
    ),
    "doctype-after-comment": b'<?xml version="1.0"?>\n<!-- hi --><!DOCTYPE domain><domain/>',
    "utf16-entities": (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE domain [<!ENTITY x "y">]><domain><name>&x;</name></domain>'
    ).encode("utf-16"),
    "undefined-entity": b"<domain><name>&secret;</name></domain>",
    "too-deep": b"<domain>" + b"<a>" * 300 + b"</a>" * 300 + b"</domain>",
    "twenty-mib": b"<domain><description>" + b"x" * (20 * 1024 * 1024) + b"</description></domain>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_document_is_refused(name: str) -> None:
    with pytest.raises(XMLParseError) as info:
        parse_domain(HOSTILE[name])
    # Nothing from the file system leaks into the error either.
    assert "root:" not in str(info.value)


@pytest.mark.parametrize(
    "parser",
    [
        parse_capabilities,
        parse_domain,
        parse_metadata,
        parse_network,
        parse_node_device,
        parse_storage_pool,
        parse_storage_volume,
    ],
)
@pytest.mark.parametrize("name", ["billion-laughs", "xxe-file", "twenty-mib"])
def test_every_parser_refuses_hostile_xml(parser: object, name: str) -> None:
    assert callable(parser)
    with pytest.raises(XMLParseError):
        parser(HOSTILE[name])


def test_size_limit_is_checked_before_parsing() -> None:
    document = b"<domain>" + b" " * MAX_XML_BYTES + b"</domain>"
    with pytest.raises(XMLParseError, match="too large") as info:
        parse_xml(document)
    assert info.value.line is None


def test_malformed_xml_says_where() -> None:
    with pytest.raises(XMLParseError) as info:
        parse_domain(b"<domain>\n  <name>vm</nam>\n</domain>")
    assert (info.value.line, info.value.column) == (2, 17)
    assert "line 2, column 17" in str(info.value)
    assert str(info.value).count("column") == 1


def test_xml_errors_are_invalid_input_for_the_api() -> None:
    with pytest.raises(InvalidInputError):
        parse_domain(b"")


def test_doctype_in_text_is_not_a_dtd() -> None:
    domain = parse_domain(
        b"<domain type='kvm'><name>vm</name><description><![CDATA[<!DOCTYPE x>]]>"
        b"</description><memory>1024</memory><vcpu>1</vcpu></domain>"
    )
    assert domain.description == "<!DOCTYPE x>"


def test_wrong_root_element_is_refused() -> None:
    with pytest.raises(XMLParseError, match="expected <domain>"):
        parse_domain(b"<network><name>n</name></network>")
    with pytest.raises(XMLParseError, match="expected <pool>"):
        parse_storage_pool(b"<domain/>")


def test_unknown_elements_and_values_do_not_crash() -> None:
    domain = parse_domain(
        b"<domain type='future' id='x'><name>vm</name><uuid>u</uuid>"
        b"<memory unit='zettabytes'>12</memory><currentMemory>bogus</currentMemory>"
        b"<vcpu current='many'>lots</vcpu><os><type>hvm</type></os>"
        b"<shiny xmlns='urn:x'><thing/></shiny><!-- a comment --><?pi x?>"
        b"<devices><disk type='quantum'><target/></disk><hologram/>"
        b"<interface type='warp'><vlan><tag id='x'/><tag id='7'/></vlan></interface>"
        b"<graphics type='vnc' port='sixty' autoport='maybe'/>"
        b"<video/><hostdev type='pci'><source><address bus='zz'/></source></hostdev>"
        b"<controller type='usb' index='first'/></devices>"
        b"<metadata><virtumancer:instance xmlns:virtumancer='https://virtumancer.dev/xmlns/domain/1'>"
        b"<virtumancer:imported-at>not a date</virtumancer:imported-at>"
        b"</virtumancer:instance></metadata></domain>"
    )
    assert domain.name == "vm"
    assert domain.domain_type == "future"
    assert domain.id is None
    assert domain.memory_bytes == 12
    assert domain.vcpus == 1
    assert domain.devices.disks[0].type == "quantum"
    assert domain.devices.interfaces[0].vlan_tags == (7,)
    assert domain.devices.graphics[0].port is None
    assert domain.devices.videos[0].model == "default"
    assert domain.devices.hostdevs[0].pci_address is None
    assert domain.devices.controllers[0].index is None
    assert domain.metadata is None


def test_domain_without_name_is_refused() -> None:
    with pytest.raises(XMLParseError, match="no <name>"):
        parse_domain(b"<domain type='kvm'><uuid>u</uuid></domain>")


def test_utf16_document_without_dtd_parses() -> None:
    document = '<?xml version="1.0" encoding="UTF-16"?><domain><name>vm</name></domain>'
    assert parse_domain(document.encode("utf-16")).name == "vm"
