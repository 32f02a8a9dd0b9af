"""Applying libvirt state to the database: sync plans, imports, storage, networks, GPUs.

Every writer compares before it writes: applying the same libvirt state twice writes no row.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, selectinload

from virtumancer.db import convert, schema
from virtumancer.db._rows import core_table, set_changed, sync_rows, utcnow
from virtumancer.db.activity import add_activity, insert_activity
from virtumancer.db.hosts import host_row
from virtumancer.db.queries import volume_sizes
from virtumancer.models.devices import Interface
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.network import Network
from virtumancer.models.nodedev import GpuDevice
from virtumancer.models.records import ActivityType
from virtumancer.models.storage import StoragePool, StorageVolume
from virtumancer.models.tokens import current_actor
from virtumancer.rules import disk_path, is_managed_by_us, nic_names, state_activity

__all__ = [
    "LAST_SEEN_REFRESH",
    "SyncOutcome",
    "apply_domains",
    "apply_gpus",
    "apply_networks",
    "apply_storage",
    "delete_orphan_ports",
    "dismiss_discovered",
    "import_domains",
    "mark_domain_missing",
]


#: ``last_seen_at`` of a discovered VM is refreshed only when older than this, so a
#: reconciliation that finds nothing changed writes nothing.
LAST_SEEN_REFRESH = dt.timedelta(minutes=15)
#: Up to this many domains (the event path), a write looks up only the volumes and ports
#: they use; more, and it loads the host's whole (one query each, fewer round trips).
SCOPED_LOOKUPS_MAX = 200

#: Rows that belong to one host and are synced from libvirt by a key of their own.
_HostRow = TypeVar("_HostRow", schema.NetworkRow, schema.HostVideoDeviceRow)


@attrs.define
class SyncOutcome:
    """What one application of libvirt state to the database did."""

    vms_changed: bool = False
    discovered_changed: bool = False
    #: managed domains whose ``<metadata>`` lacks our provenance (to be written by the caller)
    missing_metadata: list[Domain] = attrs.Factory(list)
    #: domains newly made managed by this call (imports)
    imported: list[str] = attrs.Factory(list)

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return self.vms_changed or self.discovered_changed


def _vm_values(domain: Domain) -> dict[str, object]:
    kinds = {graphics.type for graphics in domain.devices.graphics}
    return {
        "name": domain.name,
        "description": domain.description or domain.title or "",
        "vcpu_count": domain.current_vcpus or domain.vcpus,
        "memory_bytes": domain.memory_bytes,
        "state": int(domain.state if domain.state is not None else DomainState.NOSTATE),
        "graphics_vnc": "vnc" in kinds,
        "graphics_spice": "spice" in kinds,
    }


class _Lookups:
    """Lookups shared by every VM of one sync: volume sizes, ports by MAC, video models.

    A full pass loads a host's volumes and ports whole (one query each). The event path
    re-reads one or a few domains: :meth:`scope` limits both queries to what those domains
    name, so its cost does not grow with the number of VMs on the host.
    """

    def __init__(self, session: Session, host_id: str) -> None:
        self.session = session
        self.host_id = host_id
        self._volume_sizes: dict[str, int] | None = None
        self._ports: dict[str, schema.PortRow] | None = None
        self._video_models: dict[tuple[str, int, int, bool], schema.VideoModelRow] | None = None
        self._paths: list[str] | None = None
        self._macs: list[str] | None = None

    def scope(self, domains: Sequence[Domain]) -> None:
        """Look up only the volumes and ports that ``domains`` use (a handful of domains)."""
        self._paths = sorted({p for d in domains for p in map(disk_path, d.devices.disks) if p})
        self._macs = sorted({_port_mac(nic) for d in domains for nic in d.devices.interfaces})

    @property
    def volume_sizes(self) -> dict[str, int]:
        if self._volume_sizes is None:
            self._volume_sizes = volume_sizes(self.session, self.host_id, self._paths)
        return self._volume_sizes

    def plan(self, domain: Domain) -> _Plan:
        return _plan(domain, self.volume_sizes)

    def port(self, mac: str, model: str | None) -> schema.PortRow:
        """Return the ORM row of a port, adding it if new."""
        if self._ports is None:
            query = select(schema.PortRow).where(schema.PortRow.host_id == self.host_id)
            if self._macs is not None:
                query = query.where(schema.PortRow.mac_address.in_(self._macs))
            self._ports = {row.mac_address: row for row in self.session.scalars(query)}
        row = self._ports.get(mac)
        if row is None:
            row = schema.PortRow(host_id=self.host_id, mac_address=mac, model_name=model)
            self.session.add(row)
            self._ports[mac] = row
        elif model is not None and row.model_name != model:
            row.model_name = model
        return row

    def port_ids(self, models: Mapping[str, str | None]) -> dict[str, int]:
        """Return port ids by MAC, inserting the missing ports in one statement."""
        self.session.flush()
        ids = {
            row.mac_address: row.id
            for row in self.session.execute(
                select(schema.PortRow.mac_address, schema.PortRow.id).where(
                    schema.PortRow.host_id == self.host_id
                )
            )
        }
        missing = [
            {"host_id": self.host_id, "mac_address": mac, "model_name": model}
            for mac, model in models.items()
            if mac not in ids
        ]
        if missing:
            result = self.session.execute(
                insert(core_table(schema.PortRow)).returning(
                    schema.PortRow.mac_address, schema.PortRow.id, sort_by_parameter_order=True
                ),
                missing,
            )
            ids.update({row.mac_address: row.id for row in result})
            self._ports = None  # the ORM map no longer knows every port
        return ids

    def video_model(self, name: str, vram: int, heads: int, accel: bool) -> schema.VideoModelRow:
        if self._video_models is None:
            rows = self.session.scalars(select(schema.VideoModelRow))
            self._video_models = {
                (row.model_name, row.vram, row.heads, row.accel_3d): row for row in rows
            }
        key = (name, vram, heads, accel)
        row = self._video_models.get(key)
        if row is None:
            row = schema.VideoModelRow(model_name=name, vram=vram, heads=heads, accel_3d=accel)
            self.session.add(row)
            self.session.flush()
            self._video_models[key] = row
        return row


PortPlan = tuple[str, str | None, str, str | None]  # mac, model, interface type, source


def _port_mac(interface: Interface) -> str:
    """The key of a NIC's port row (``""`` for a NIC without a MAC)."""
    return interface.mac.lower() if interface.mac else ""


VideoPlan = tuple[str, int, int, bool, bool]  # model, vram KiB, heads, 3D, primary


@attrs.frozen
class _Plan:
    """What the database should hold for one domain; ``fingerprint`` digests all of it."""

    uuid: str
    name: str
    values: dict[str, object]
    disks: dict[str, dict[str, object]]
    ports: dict[str, PortPlan]
    videos: tuple[VideoPlan, ...]
    fingerprint: str


def _plan(domain: Domain, volume_sizes: Mapping[str, int]) -> _Plan:
    values = _vm_values(domain)
    disks: dict[str, dict[str, object]] = {}
    for disk in domain.devices.disks:
        path = disk_path(disk)
        # Only pool capacities are stored: a size read live (block info of a disk in no
        # pool) would differ from what a full pass, which reads none, writes next.
        size = volume_sizes.get(path) if path is not None else None
        disks[disk.target_dev] = {
            "device": disk.device,
            "bus_type": disk.target_bus,
            "path": path,
            "format": disk.driver_type,
            "size_bytes": size,
        }
    # Ports are keyed by a stable device name (eth0, eth1 ... in XML order): the target
    # device (vnet3) changes on every start.
    ports: dict[str, PortPlan] = {
        name: (
            _port_mac(interface),
            interface.model,
            interface.type,
            interface.source_network or interface.source_bridge or interface.source_dev,
        )
        for name, interface in nic_names(domain.devices.interfaces).items()
    }
    videos = tuple(
        (video.model, video.vram_kib or 0, video.heads or 1, video.accel3d, video.primary or i == 0)
        for i, video in enumerate(domain.devices.videos)
    )
    digest = hashlib.blake2b(repr((values, disks, ports, videos)).encode(), digest_size=16)
    return _Plan(
        uuid=domain.uuid,
        name=domain.name,
        values=values,
        disks=disks,
        ports=ports,
        videos=videos,
        fingerprint=digest.hexdigest(),
    )


def _sync_hardware(vm: schema.VmRow, plan: _Plan, lookups: _Lookups) -> bool:
    """Make a VM's attachments match its plan (ORM path); return whether anything changed."""
    changed = False
    removed = False
    existing_disks = {row.device_name: row for row in vm.disks}
    for name, row in existing_disks.items():
        if name not in plan.disks:
            vm.disks.remove(row)
            removed = True
    existing_ports = {row.device_name: row for row in vm.ports}
    for name, port_attachment in existing_ports.items():
        wanted = plan.ports.get(name)
        if wanted is None or port_attachment.port.mac_address != wanted[0]:
            vm.ports.remove(port_attachment)
            removed = True
    existing_videos = {row.monitor_index: row for row in vm.videos}
    for index, video_row in existing_videos.items():
        if index >= len(plan.videos):
            vm.videos.remove(video_row)
            removed = True
    if removed:
        # Removals first, so a re-added device name does not hit a unique constraint.
        lookups.session.flush()
        changed = True
    existing_disks = {row.device_name: row for row in vm.disks}
    for name, values in plan.disks.items():
        disk_row = existing_disks.get(name)
        if disk_row is None:
            vm.disks.append(schema.DiskAttachmentRow(device_name=name, **values))
            changed = True
        else:
            changed |= set_changed(disk_row, **values)
    existing_ports = {row.device_name: row for row in vm.ports}
    for name, (mac, model, kind, source) in plan.ports.items():
        port = lookups.port(mac, model)
        found_port = existing_ports.get(name)
        if found_port is None:
            vm.ports.append(
                schema.PortAttachmentRow(
                    port=port, device_name=name, interface_type=kind, source=source
                )
            )
            changed = True
        else:
            changed |= set_changed(found_port, interface_type=kind, source=source)
    existing_videos = {row.monitor_index: row for row in vm.videos}
    for index, (model_name, vram, heads, accel, primary) in enumerate(plan.videos):
        video_model = lookups.video_model(model_name, vram, heads, accel)
        found_video = existing_videos.get(index)
        if found_video is None:
            vm.videos.append(
                schema.VideoAttachmentRow(
                    video_model_id=video_model.id, monitor_index=index, primary=primary
                )
            )
            changed = True
        else:
            changed |= set_changed(found_video, video_model_id=video_model.id, primary=primary)
    return changed


def _insert_vms(
    session: Session, host_id: str, plans: Sequence[_Plan], lookups: _Lookups, now: dt.datetime
) -> None:
    """Insert new VMs with all their attachments, a few statements for any number of VMs."""
    if not plans:
        return
    result = session.execute(
        insert(core_table(schema.VmRow)).returning(
            schema.VmRow.uuid, schema.VmRow.id, sort_by_parameter_order=True
        ),
        [
            {
                "host_id": host_id,
                "uuid": plan.uuid,
                "fingerprint": plan.fingerprint,
                "created_at": now,
                "updated_at": now,
                **plan.values,
            }
            for plan in plans
        ],
    )
    vm_ids = {row.uuid: row.id for row in result}
    disks = [
        {"vm_id": vm_ids[plan.uuid], "device_name": name, **values}
        for plan in plans
        for name, values in plan.disks.items()
    ]
    if disks:
        session.execute(insert(core_table(schema.DiskAttachmentRow)), disks)
    models = {mac: model for plan in plans for mac, model, _, _ in plan.ports.values()}
    if models:
        port_ids = lookups.port_ids(models)
        session.execute(
            insert(core_table(schema.PortAttachmentRow)),
            [
                {
                    "vm_id": vm_ids[plan.uuid],
                    "port_id": port_ids[mac],
                    "device_name": name,
                    "interface_type": kind,
                    "source": source,
                }
                for plan in plans
                for name, (mac, _, kind, source) in plan.ports.items()
            ],
        )
    videos = [
        {
            "vm_id": vm_ids[plan.uuid],
            "video_model_id": lookups.video_model(model_name, vram, heads, accel).id,
            "monitor_index": index,
            "primary": primary,
        }
        for plan in plans
        for index, (model_name, vram, heads, accel, primary) in enumerate(plan.videos)
    ]
    if videos:
        session.execute(insert(core_table(schema.VideoAttachmentRow)), videos)


def _update_vm(
    session: Session,
    vm: schema.VmRow,
    plan: _Plan,
    lookups: _Lookups,
    now: dt.datetime,
    hint: str | None,
) -> bool:
    old_state = vm.state
    changed = set_changed(vm, **plan.values)
    if vm.gone_at is not None:
        vm.gone_at = None
        changed = True
    changed |= _sync_hardware(vm, plan, lookups)
    changed |= set_changed(vm, fingerprint=plan.fingerprint)
    if hint == ActivityType.VM_REBOOTED:
        add_activity(
            session,
            ActivityType.VM_REBOOTED,
            f"VM {vm.name} rebooted on host {vm.host_id}",
            host_id=vm.host_id,
            vm_name=vm.name,
            timestamp=now,
        )
    transition = state_activity(old_state, vm.state, hint)
    if transition is not None:
        kind, verb = transition
        add_activity(
            session,
            kind,
            f"VM {vm.name} {verb} on host {vm.host_id}",
            host_id=vm.host_id,
            vm_name=vm.name,
            timestamp=now,
        )
    if changed:
        vm.updated_at = now
    return changed


def _vm_rows(
    session: Session, host_id: str, uuids: Collection[str] | None
) -> dict[str, schema.VmRow]:
    query = (
        select(schema.VmRow)
        .where(schema.VmRow.host_id == host_id)
        .options(
            selectinload(schema.VmRow.disks),
            selectinload(schema.VmRow.ports).selectinload(schema.PortAttachmentRow.port),
            selectinload(schema.VmRow.videos),
        )
    )
    if uuids is not None:
        query = query.where(schema.VmRow.uuid.in_(list(uuids)))
    return {row.uuid: row for row in session.scalars(query)}


def _vm_index(session: Session, host_id: str, uuids: Collection[str] | None) -> dict[str, Any]:
    """Return ``{uuid: (id, uuid, fingerprint, gone_at)}`` of a host's VMs, without the ORM."""
    query = select(
        schema.VmRow.id, schema.VmRow.uuid, schema.VmRow.fingerprint, schema.VmRow.gone_at
    ).where(schema.VmRow.host_id == host_id)
    if uuids is not None:
        query = query.where(schema.VmRow.uuid.in_(list(uuids)))
    return {row.uuid: row for row in session.execute(query)}


def _discovered_index(
    session: Session, host_id: str, uuids: Collection[str] | None
) -> dict[str, Any]:
    query = select(
        schema.DiscoveredVmRow.domain_uuid,
        schema.DiscoveredVmRow.name,
        schema.DiscoveredVmRow.imported,
        schema.DiscoveredVmRow.last_seen_at,
    ).where(schema.DiscoveredVmRow.host_id == host_id)
    if uuids is not None:
        query = query.where(schema.DiscoveredVmRow.domain_uuid.in_(list(uuids)))
    return {row.domain_uuid: row for row in session.execute(query)}


def apply_domains(
    session: Session,
    host_id: str,
    domains: Sequence[Domain],
    *,
    complete: bool,
    hints: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> SyncOutcome:
    """Make the database match ``domains`` of a host; write only what differs.

    With ``complete`` the list is every domain of the host: managed VMs not in it are marked
    gone (and removed, with an activity entry, when already marked), discovered VMs not in it
    are forgotten. Otherwise only the given domains are touched (the event path).
    ``hints`` maps a domain UUID to an activity type the caller knows better than a state
    change tells (``vm_rebooted``, ``vm_crashed``).

    Unchanged VMs cost one indexed read: each row keeps a fingerprint of what it was
    written from, and only VMs whose fingerprint differs are loaded and compared.
    """
    now = convert.naive_utc(now) if now is not None else utcnow()
    hints = hints or {}
    outcome = SyncOutcome()
    lookups = _Lookups(session, host_id)
    if not complete and len(domains) <= SCOPED_LOOKUPS_MAX:
        lookups.scope(domains)
    only = None if complete else [domain.uuid for domain in domains]
    index = _vm_index(session, host_id, only)
    plans = {domain.uuid: lookups.plan(domain) for domain in domains}
    to_update: list[Domain] = []
    to_adopt: list[Domain] = []
    for domain in domains:
        row = index.get(domain.uuid)
        if row is None:
            if is_managed_by_us(domain):
                # Provenance in the domain's metadata: a fresh database re-learns the VM.
                to_adopt.append(domain)
            continue
        if not is_managed_by_us(domain):
            outcome.missing_metadata.append(domain)
        if (
            row.fingerprint != plans[domain.uuid].fingerprint
            or row.gone_at is not None
            or domain.uuid in hints
        ):
            to_update.append(domain)
    if to_adopt:
        _insert_vms(session, host_id, [plans[d.uuid] for d in to_adopt], lookups, now)
        outcome.vms_changed = True
    if to_update:
        rows = _vm_rows(session, host_id, [d.uuid for d in to_update])
        for domain in to_update:
            outcome.vms_changed |= _update_vm(
                session, rows[domain.uuid], plans[domain.uuid], lookups, now, hints.get(domain.uuid)
            )
    managed = set(index) | {domain.uuid for domain in to_adopt}
    discovered = _discovered_index(session, host_id, only)
    new_rows = []
    for domain in domains:
        is_managed = domain.uuid in managed
        found = discovered.get(domain.uuid)
        if found is None:
            if not is_managed:
                new_rows.append(
                    {
                        "host_id": host_id,
                        "domain_uuid": domain.uuid,
                        "name": domain.name,
                        "last_seen_at": now,
                        "imported": False,
                        "dismissed": False,
                    }
                )
            continue
        changes: dict[str, object] = {}
        if found.name != domain.name:
            changes["name"] = domain.name
        if found.imported != is_managed:
            changes["imported"] = is_managed
        if now - found.last_seen_at > LAST_SEEN_REFRESH:
            changes["last_seen_at"] = now
        if changes:
            session.execute(
                update(schema.DiscoveredVmRow)
                .where(
                    schema.DiscoveredVmRow.host_id == host_id,
                    schema.DiscoveredVmRow.domain_uuid == domain.uuid,
                )
                .values(**changes)
            )
            outcome.discovered_changed = True
    if new_rows:
        session.execute(insert(core_table(schema.DiscoveredVmRow)), new_rows)
        outcome.discovered_changed = True
    if complete:
        seen = set(plans)
        missing_vms = [uuid for uuid in index if uuid not in seen]
        if missing_vms:
            for vm in _vm_rows(session, host_id, missing_vms).values():
                outcome.vms_changed |= _vm_missing(session, vm, now)
        if missing_vms:
            session.flush()
            delete_orphan_ports(session, host_id)
        missing_discovered = [uuid for uuid in discovered if uuid not in seen]
        if missing_discovered:
            session.execute(
                delete(schema.DiscoveredVmRow).where(
                    schema.DiscoveredVmRow.host_id == host_id,
                    schema.DiscoveredVmRow.domain_uuid.in_(missing_discovered),
                )
            )
            outcome.discovered_changed = True
    session.flush()
    return outcome


def _vm_missing(session: Session, vm: schema.VmRow, now: dt.datetime) -> bool:
    if vm.gone_at is None:
        vm.gone_at = now
        vm.updated_at = now
        return True
    add_activity(
        session,
        ActivityType.VM_REMOVED,
        f"VM {vm.name} removed from host {vm.host_id}",
        host_id=vm.host_id,
        vm_name=vm.name,
        timestamp=now,
    )
    session.delete(vm)
    return True


def mark_domain_missing(
    session: Session, host_id: str, domain_uuid: str, *, now: dt.datetime | None = None
) -> SyncOutcome:
    """Record that libvirt no longer has a domain (the event path): mark, don't remove."""
    now = convert.naive_utc(now) if now is not None else utcnow()
    outcome = SyncOutcome()
    vm = session.scalars(
        select(schema.VmRow).where(
            schema.VmRow.host_id == host_id, schema.VmRow.uuid == domain_uuid
        )
    ).first()
    if vm is not None and vm.gone_at is None:
        vm.gone_at = now
        vm.updated_at = now
        outcome.vms_changed = True
    row = session.get(schema.DiscoveredVmRow, (host_id, domain_uuid))
    if row is not None:
        session.delete(row)
        outcome.discovered_changed = True
    session.flush()
    return outcome


def remove_deleted_vm(session: Session, host_id: str, domain_uuid: str) -> bool:
    """Forget a VM the user deleted (no "gone" grace: it was removed on purpose).

    Writes a ``vm_deleted`` activity entry; returns whether there was a VM to forget.
    """
    row = session.get(schema.DiscoveredVmRow, (host_id, domain_uuid))
    if row is not None:
        session.delete(row)
    vm = session.scalars(
        select(schema.VmRow).where(
            schema.VmRow.host_id == host_id, schema.VmRow.uuid == domain_uuid
        )
    ).first()
    if vm is None:
        session.flush()
        return row is not None
    add_activity(
        session,
        ActivityType.VM_DELETED,
        f"VM {vm.name} deleted from host {host_id}",
        host_id=host_id,
        vm_name=vm.name,
    )
    session.delete(vm)
    session.flush()
    delete_orphan_ports(session, host_id)
    return True


def import_domains(
    session: Session,
    host_id: str,
    domains: Sequence[Domain],
    *,
    now: dt.datetime | None = None,
) -> SyncOutcome:
    """Make ``domains`` managed: a VM row with its hardware each. Never duplicates.

    A domain that is already managed is left alone. Returns the UUIDs newly imported in
    ``outcome.imported``, and in ``outcome.missing_metadata`` the domains whose
    ``<metadata>`` lacks our provenance (the caller writes it after the commit).
    """
    now = convert.naive_utc(now) if now is not None else utcnow()
    host_row(session, host_id)
    outcome = SyncOutcome()
    lookups = _Lookups(session, host_id)
    uuids = [domain.uuid for domain in domains]
    index = _vm_index(session, host_id, uuids)
    new: list[Domain] = []
    revive: list[Domain] = []
    for domain in {d.uuid: d for d in domains}.values():
        row = index.get(domain.uuid)
        if row is None:
            new.append(domain)
        elif row.gone_at is not None:
            revive.append(domain)
        if not is_managed_by_us(domain):
            outcome.missing_metadata.append(domain)
    _insert_vms(session, host_id, [lookups.plan(d) for d in new], lookups, now)
    if revive:
        rows = _vm_rows(session, host_id, [d.uuid for d in revive])
        for domain in revive:
            _update_vm(session, rows[domain.uuid], lookups.plan(domain), lookups, now, None)
    if new:
        new_uuids = [d.uuid for d in new]
        known = set(_discovered_index(session, host_id, new_uuids))
        session.execute(
            update(schema.DiscoveredVmRow)
            .where(
                schema.DiscoveredVmRow.host_id == host_id,
                schema.DiscoveredVmRow.domain_uuid.in_(known),
            )
            .values(imported=True, dismissed=False)
        )
        unknown = [
            {
                "host_id": host_id,
                "domain_uuid": d.uuid,
                "name": d.name,
                "last_seen_at": now,
                "imported": True,
                "dismissed": False,
            }
            for d in new
            if d.uuid not in known
        ]
        if unknown:
            session.execute(insert(core_table(schema.DiscoveredVmRow)), unknown)
        insert_activity(
            session,
            [
                {
                    "timestamp": now,
                    "type": ActivityType.VM_IMPORTED,
                    "message": f"VM {d.name} imported from host {host_id}",
                    "host_id": host_id,
                    "vm_name": d.name,
                    "actor": current_actor.get(),
                }
                for d in new
            ],
        )
        outcome.imported = new_uuids
        outcome.vms_changed = True
    session.flush()
    return outcome


def dismiss_discovered(session: Session, host_id: str, domain_uuids: Iterable[str]) -> int:
    """Hide discovered VMs while the same domains exist; return how many were dismissed."""
    host_row(session, host_id)
    wanted = list(set(domain_uuids))
    result = session.execute(
        update(schema.DiscoveredVmRow)
        .where(
            schema.DiscoveredVmRow.host_id == host_id,
            schema.DiscoveredVmRow.domain_uuid.in_(wanted),
            schema.DiscoveredVmRow.imported.is_(False),
            schema.DiscoveredVmRow.dismissed.is_(False),
        )
        .values(dismissed=True)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def apply_storage(
    session: Session,
    host_id: str,
    pools: Sequence[StoragePool],
    volumes: Sequence[StorageVolume],
) -> bool:
    """Make a host's pools and volumes match libvirt; return whether anything changed."""
    existing = {
        row.uuid: row
        for row in session.scalars(
            select(schema.StoragePoolRow)
            .where(schema.StoragePoolRow.host_id == host_id)
            .options(selectinload(schema.StoragePoolRow.volumes))
        )
    }

    def new_pool(uuid: str, values: dict[str, object]) -> schema.StoragePoolRow:
        row = schema.StoragePoolRow(host_id=host_id, uuid=uuid, **values)
        row.volumes = []
        return row

    rows, changed = sync_rows(
        session,
        existing,
        {
            pool.uuid: {
                "name": pool.name,
                "type": pool.type,
                "path": pool.target_path,
                "state": pool.state,
                "capacity_bytes": pool.capacity_bytes or 0,
                "allocation_bytes": pool.allocation_bytes or 0,
                "available_bytes": pool.available_bytes or 0,
            }
            for pool in pools
        },
        new_pool,
    )
    by_name = {row.name: row for row in rows.values()}
    wanted: dict[str, dict[str, dict[str, object]]] = {name: {} for name in by_name}
    for volume in volumes:
        if volume.pool_name in wanted:
            wanted[volume.pool_name][volume.name] = {
                "key": volume.key,
                "path": volume.path,
                "type": volume.type or "file",
                "format": volume.format,
                "capacity_bytes": volume.capacity_bytes or 0,
                "allocation_bytes": volume.allocation_bytes or 0,
            }
    for pool_name, pool_row in by_name.items():
        current = {row.name: row for row in pool_row.volumes}
        for name, volume_row in current.items():
            if name not in wanted[pool_name]:
                pool_row.volumes.remove(volume_row)
                changed = True
        for name, volume_values in wanted[pool_name].items():
            found_volume = current.get(name)
            if found_volume is None:
                pool_row.volumes.append(schema.StorageVolumeRow(name=name, **volume_values))
                changed = True
            else:
                changed |= set_changed(found_volume, **volume_values)
    session.flush()
    return changed


def _sync_host_rows(
    session: Session,
    row_type: type[_HostRow],
    key: str,
    host_id: str,
    wanted: Mapping[str, dict[str, object]],
) -> bool:
    """Make a host's rows of ``row_type`` (by column ``key``) hold ``wanted``; any change?"""
    existing = {
        getattr(row, key): row
        for row in session.scalars(select(row_type).where(row_type.host_id == host_id))
    }
    _, changed = sync_rows(
        session,
        existing,
        wanted,
        lambda value, values: row_type(host_id=host_id, **{key: value}, **values),
    )
    session.flush()
    return changed


def apply_networks(session: Session, host_id: str, networks: Sequence[Network]) -> bool:
    """Make a host's networks match libvirt; return whether anything changed."""
    return _sync_host_rows(
        session,
        schema.NetworkRow,
        "uuid",
        host_id,
        {
            network.uuid: {
                "name": network.name,
                "bridge_name": network.bridge,
                "mode": network.forward_mode or "isolated",
                "active": network.active,
            }
            for network in networks
        },
    )


def apply_gpus(session: Session, host_id: str, gpus: Sequence[GpuDevice]) -> bool:
    """Make a host's GPUs match its node devices; return whether anything changed."""
    return _sync_host_rows(
        session,
        schema.HostVideoDeviceRow,
        "name",
        host_id,
        {
            gpu.name: {
                "pci_address": str(gpu.address),
                "vendor": gpu.vendor_name or f"0x{gpu.vendor_id:04x}",
                "model_name": gpu.product_name or f"0x{gpu.product_id:04x}",
                "driver": gpu.driver,
            }
            for gpu in gpus
        },
    )


def delete_orphan_ports(session: Session, host_id: str) -> None:
    """Forget ports no VM uses any more."""
    used = select(schema.PortAttachmentRow.port_id)
    session.execute(
        delete(schema.PortRow).where(
            schema.PortRow.host_id == host_id, schema.PortRow.id.not_in(used)
        )
    )
