"""Snapshots on libvirt's test driver: create, the tree, revert, delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import virtumancer
from virtumancer import ConflictError, NotFoundError, SyncHost, VmChange

RUNNING = "guest-0000"
STOPPED = "guest-0009"


@pytest.fixture
def host(test_uri: str) -> Iterator[SyncHost]:
    with virtumancer.connect(test_uri) as connected:
        yield connected


def _description(host: SyncHost, name: str) -> str:
    return host.domain(name).description or ""


def test_a_revert_brings_back_the_definition_and_the_tree_has_parents_and_children(
    host: SyncHost,
) -> None:
    first = host.create_snapshot(RUNNING, "before", description="the original")
    assert first.memory  # a running VM: with its memory, by default
    assert first.current
    assert first.parent is None
    host.update_vm(RUNNING, VmChange(description="changed after the snapshot"))
    second = host.create_snapshot(RUNNING, "after")
    assert second.parent == "before"
    host.revert_snapshot(RUNNING, "before")
    assert _description(host, RUNNING) != "changed after the snapshot"
    third = host.create_snapshot(RUNNING, "branch")
    assert third.parent == "before"

    tree = host.snapshots(RUNNING)
    assert [(s.name, s.depth) for s in tree] == [("before", 0), ("after", 1), ("branch", 1)]
    assert tree[0].children == ("after", "branch")
    assert [s.name for s in tree if s.current] == ["branch"]

    assert host.delete_snapshot(RUNNING, "before", children=True) == ["before", "after", "branch"]
    assert host.snapshots(RUNNING) == []


def test_a_stopped_vm_gets_a_disk_snapshot_and_bad_requests_are_refused(host: SyncHost) -> None:
    snapshot = host.create_snapshot(STOPPED, "cold")
    assert not snapshot.memory
    assert snapshot.state == "shutoff"
    with pytest.raises(ConflictError) as taken:
        host.create_snapshot(STOPPED, "cold")
    assert taken.value.field == "name"
    with pytest.raises(ConflictError) as no_memory:
        host.create_snapshot(STOPPED, "warm", memory=True)
    assert no_memory.value.field == "memory"
    with pytest.raises(NotFoundError) as missing:
        host.revert_snapshot(STOPPED, "nope")
    assert missing.value.field == "snapshot"
    # Deleting a parent keeps its children (re-parented).
    host.create_snapshot(STOPPED, "child")
    assert host.delete_snapshot(STOPPED, "cold") == ["cold"]
    assert [(s.name, s.parent) for s in host.snapshots(STOPPED)] == [("child", None)]
