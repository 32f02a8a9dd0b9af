"""Blocking snapshot operations: create, list as a tree, revert, delete.

A mixin of :class:`~virtumancer._libvirt.connection.LibvirtConnection`, like
:mod:`.lifecycle`. Snapshots with the guest's memory, and disk snapshots of a stopped VM,
are *internal* (kept inside its qcow2 images: every writable disk must be qcow2); a
disk-only snapshot of a running VM is *external* (libvirt puts an overlay file over each
disk). libvirt 9.0 reverts internal snapshots only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import libvirt

from virtumancer._libvirt._operations import ConnectionOperations
from virtumancer._libvirt.lifecycle import _error_code, _read
from virtumancer.exceptions import ConflictError, InvalidInputError, NotFoundError
from virtumancer.models._names import check_name
from virtumancer.models.domain import Domain

# The snapshot parser and model load when snapshots are used, not with every connection.
if TYPE_CHECKING:
    from virtumancer.models.snapshot import Snapshot

__all__ = ["SnapshotOperations"]


class SnapshotOperations(ConnectionOperations):
    """Snapshots of a VM (mixed into ``LibvirtConnection``)."""

    def _snapshot(self, dom: Any, name: str) -> Any:
        try:
            return dom.snapshotLookupByName(name, 0)
        except libvirt.libvirtError as exc:
            if _error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                raise NotFoundError(
                    f"VM {dom.name()!r} has no snapshot {name!r}",
                    field="snapshot",
                    host_id=self.host_id,
                    vm_name=dom.name(),
                ) from None
            raise

    def create_snapshot(
        self,
        name_or_uuid: str,
        name: str | None = None,
        *,
        description: str = "",
        memory: bool | None = None,
    ) -> Snapshot:
        """Take a snapshot of a VM; return it.

        ``memory`` (default: whether the VM runs) keeps the guest's memory too, so a revert
        resumes it where it was; it needs a running VM and qcow2 disks. Without memory a
        stopped VM gets an internal disk snapshot, a running one an external disk-only
        snapshot (overlay files). ``name`` ``None`` lets libvirt name it (the time).
        :class:`ConflictError` for a name in use (``field="name"``) or memory of a stopped VM.
        """
        from virtumancer._xml.snapshot import render_snapshot

        if name is not None:
            check_name(name, "name")

        def work(raw: Any) -> Snapshot:
            dom = self._lookup(name_or_uuid)
            active = bool(dom.isActive())
            with_memory = active if memory is None else memory
            if with_memory and not active:
                raise ConflictError(
                    f"VM {dom.name()!r} is not running: it has no memory to snapshot",
                    field="memory",
                    host_id=self.host_id,
                    vm_name=dom.name(),
                )
            if name is not None and name in dom.snapshotListNames(0):
                raise ConflictError(
                    f"VM {dom.name()!r} already has a snapshot {name!r}",
                    field="name",
                    host_id=self.host_id,
                    vm_name=dom.name(),
                )
            flags = 0
            if active and not with_memory:
                flags = (
                    libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                    | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                )
            snap = dom.snapshotCreateXML(render_snapshot(name, description).decode(), flags)
            return _tree_of(dom, only=snap.getName())[0]

        return self.call(work, vm_name=name_or_uuid)

    def list_snapshots(self, name_or_uuid: str) -> list[Snapshot]:
        """Return a VM's snapshots as a tree, depth first: each root, then its children."""
        return self.call(lambda raw: _tree_of(self._lookup(name_or_uuid)), vm_name=name_or_uuid)

    def revert_snapshot(
        self, name_or_uuid: str, snapshot: str, *, state: str | None = None
    ) -> Domain:
        """Revert a VM to a snapshot (its disks, definition, and memory if it has any).

        The VM ends in the snapshot's state; ``state`` ``"running"`` or ``"paused"`` asks
        for that one instead. Reverting discards what changed since: the caller confirms.
        """
        flags = {
            None: 0,
            "running": libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
            "paused": libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED,
        }
        if state not in flags:
            raise InvalidInputError("state must be running or paused", field="state")

        def work(raw: Any) -> Domain:
            dom = self._lookup(name_or_uuid)
            snap = self._snapshot(dom, snapshot)
            dom.revertToSnapshot(snap, flags[state])
            return _read(dom)

        return self.call(work, vm_name=name_or_uuid)

    def delete_snapshot(
        self, name_or_uuid: str, snapshot: str, *, children: bool = False
    ) -> list[str]:
        """Delete a snapshot (its children are re-parented, or deleted with ``children``).

        Returns the names of the snapshots deleted.
        """

        def work(raw: Any) -> list[str]:
            dom = self._lookup(name_or_uuid)
            snap = self._snapshot(dom, snapshot)
            deleted = [snapshot]
            flags = 0
            if children:
                tree = _tree_of(dom)
                start = next(i for i, s in enumerate(tree) if s.name == snapshot)
                for below in tree[start + 1 :]:
                    if below.depth <= tree[start].depth:
                        break
                    deleted.append(below.name)
                flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN
            snap.delete(flags)
            return deleted

        return self.call(work, vm_name=name_or_uuid)


def _tree_of(dom: Any, *, only: str | None = None) -> list[Snapshot]:
    """Read every snapshot of ``dom`` and order them depth first (``only``: just that one)."""
    from virtumancer._xml.snapshot import parse_snapshot

    current: str | None = None
    if dom.hasCurrentSnapshot(0):
        current = dom.snapshotCurrent(0).getName()
    parsed = {
        snap.getName(): parse_snapshot(snap.getXMLDesc(0)) for snap in dom.listAllSnapshots(0)
    }
    children: dict[str | None, list[str]] = {}
    for snapshot in sorted(
        parsed.values(), key=lambda s: (s.created_at is None, s.created_at, s.name)
    ):
        parent = snapshot.parent if snapshot.parent in parsed else None
        children.setdefault(parent, []).append(snapshot.name)
    ordered: list[Snapshot] = []

    def visit(name: str, depth: int) -> None:
        ordered.append(
            attrs.evolve(
                parsed[name],
                children=tuple(children.get(name, ())),
                current=name == current,
                depth=depth,
            )
        )
        for child in children.get(name, ()):
            visit(child, depth + 1)

    for root in children.get(None, ()):
        visit(root, 0)
    if only is not None:
        return [snapshot for snapshot in ordered if snapshot.name == only]
    return ordered
