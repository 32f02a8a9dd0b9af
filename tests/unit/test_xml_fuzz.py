"""Unknown elements and values never crash a parse: random trees give a model or our error."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from virtumancer._xml import (
    parse_capabilities,
    parse_domain,
    parse_metadata,
    parse_network,
    parse_node_device,
    parse_storage_pool,
    parse_storage_volume,
)
from virtumancer.exceptions import XMLParseError
from virtumancer.models import parse_domain_stats

# Names libvirt uses (so the parsers' branches are reached) plus some it does not.
TAGS = [
    "name", "uuid", "title", "description", "memory", "currentMemory", "vcpu", "os", "type",
    "boot", "cpu", "model", "devices", "disk", "driver", "source", "target", "readonly",
    "shareable", "serial", "interface", "mac", "vlan", "tag", "alias", "graphics", "listen",
    "video", "acceleration", "hostdev", "address", "controller", "input", "sound", "console",
    "channel", "filesystem", "rng", "backend", "tpm", "watchdog", "memballoon", "emulator",
    "metadata", "capability", "class", "domain", "bus", "slot", "function", "vendor",
    "product", "host", "guest", "os_type", "arch", "wordsize", "machine", "capacity",
    "allocation", "available", "path", "format", "key", "forward", "bridge", "on_crash",
    "managed-by", "imported-at", "version", "unknown", "x-future",
]  # fmt: skip
ATTRS = [
    "type", "device", "name", "file", "dev", "dir", "pool", "volume", "protocol", "bus",
    "network", "bridge", "portgroup", "address", "id", "port", "tlsPort", "autoport",
    "listen", "passwd", "socket", "vram", "heads", "primary", "accel3d", "mode", "managed",
    "domain", "slot", "function", "index", "model", "unit", "current", "arch", "machine",
    "firmware", "version", "action",
]  # fmt: skip
VALUES = st.sampled_from(
    ["", "0", "-1", "0x1f", "yes", "no", "on", "1e9", "KiB", "zettabytes", "vnc", "x" * 40]
) | st.text(st.characters(categories=["L", "M", "N", "P", "S"]), max_size=8)


def _tree(depth: int) -> st.SearchStrategy[etree._Element]:
    def build(tag: str, attrs: dict[str, str], text: str | None, children: list) -> etree._Element:  # type: ignore[type-arg]
        element = etree.Element(tag)
        for key, value in attrs.items():
            element.set(key, value)
        element.text = text
        element.extend(children)
        return element

    children: st.SearchStrategy[list[etree._Element]] = (
        st.lists(_tree(depth - 1), max_size=4) if depth > 0 else st.just([])
    )
    return st.builds(
        build,
        st.sampled_from(TAGS),
        st.dictionaries(st.sampled_from(ATTRS), VALUES, max_size=4),
        st.none() | VALUES,
        children,
    )


def _document(root_tag: str) -> st.SearchStrategy[bytes]:
    def build(children: list[etree._Element], attrs: dict[str, str]) -> bytes:
        root = etree.Element(root_tag)
        for key, value in attrs.items():
            root.set(key, value)
        root.extend(children)
        return etree.tostring(root)

    return st.builds(
        build,
        st.lists(_tree(3), max_size=6),
        st.dictionaries(st.sampled_from(ATTRS), VALUES, max_size=3),
    )


PARSERS: list[tuple[str, Callable[[bytes], object]]] = [
    ("domain", parse_domain),
    ("capabilities", parse_capabilities),
    ("pool", parse_storage_pool),
    ("volume", parse_storage_volume),
    ("network", parse_network),
    ("device", parse_node_device),
    ("metadata", parse_metadata),
]


@pytest.mark.parametrize(("root_tag", "parser"), PARSERS, ids=[tag for tag, _ in PARSERS])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_random_documents_never_crash(
    root_tag: str, parser: Callable[[bytes], object], data: st.DataObject
) -> None:
    document = data.draw(_document(root_tag))
    # e.g. a domain without <name> gives our error: fine; anything else is a crash.
    with contextlib.suppress(XMLParseError):
        parser(document)


STATS_KEYS = st.sampled_from(
    ["state.state", "cpu.time", "balloon.current", "balloon.maximum", "vcpu.current",
     "block.count", "block.0.name", "block.0.rd.bytes", "block.1.name", "net.count",
     "net.0.name", "net.0.rx.bytes", "net.0.tx.pkts", "other"]
)  # fmt: skip
STATS_VALUES = (
    st.none() | st.booleans() | st.integers(-5, 2**64) | st.floats() | st.text(max_size=4)
)


@settings(deadline=None)  # shared CI machine: timing is not what we test
@given(st.dictionaries(STATS_KEYS, STATS_VALUES))
def test_random_stats_records_never_crash(record: dict[str, object]) -> None:
    sample = parse_domain_stats(
        record, uuid="u", name="vm", timestamp_ns=0, wallclock=dt.datetime.now(dt.UTC)
    )
    assert len(sample.disks) <= 2
