"""Domain snapshots: what one holds and where it sits in the VM's snapshot tree."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = ["Snapshot"]


@attrs.frozen(kw_only=True)
class Snapshot:
    """One snapshot of a VM, with its place in the tree (``parent``, ``children``).

    ``state`` is the VM's state when it was taken (``running``, ``shutoff``,
    ``disk-snapshot`` for a disk-only one); ``memory`` says whether the guest's memory is in
    it (reverting to it resumes the guest where it was); ``external`` whether its disks are
    overlay files rather than internal qcow2 snapshots. ``current`` marks the snapshot the
    VM was last taken or reverted to; ``depth`` is its distance from a root.
    """

    name: str
    description: str = ""
    created_at: dt.datetime | None = None
    state: str = ""
    memory: bool = False
    external: bool = False
    parent: str | None = None
    children: tuple[str, ...] = ()
    current: bool = False
    depth: int = 0
