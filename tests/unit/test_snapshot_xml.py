"""The snapshot XML: what a create sends, and what is read back."""

from __future__ import annotations

import datetime as dt

from virtumancer._xml.snapshot import parse_snapshot, render_snapshot


def test_a_snapshot_is_read_with_its_memory_parent_and_time() -> None:
    snapshot = parse_snapshot(
        b"<domainsnapshot><name>s2</name><description>d</description><state>running</state>"
        b"<parent><name>s1</name></parent><creationTime>1700000000</creationTime>"
        b"<memory snapshot='internal'/><disks><disk name='vda' snapshot='internal'/></disks>"
        b"<domain type='kvm'><name>x</name></domain></domainsnapshot>"
    )
    assert (snapshot.name, snapshot.parent, snapshot.state) == ("s2", "s1", "running")
    assert snapshot.memory
    assert not snapshot.external
    assert snapshot.created_at == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)


def test_an_external_disk_only_snapshot_and_a_rendered_create() -> None:
    snapshot = parse_snapshot(
        b"<domainsnapshot><name>d</name><state>disk-snapshot</state><memory snapshot='no'/>"
        b"<disks><disk name='vda' snapshot='external'/></disks></domainsnapshot>"
    )
    assert snapshot.external
    assert not snapshot.memory
    assert render_snapshot("a<b", "x") == (
        b"<domainsnapshot><name>a&lt;b</name><description>x</description></domainsnapshot>"
    )
    assert render_snapshot(None) == b"<domainsnapshot/>"
