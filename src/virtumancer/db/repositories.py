"""Repositories: synchronous functions over one session, run by :class:`Database` in threads.

Every writer compares before it writes: applying the same libvirt state twice writes no row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import attrs
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from virtumancer.db import convert
from virtumancer.db.schema import (
    ActivityRow,
    ApiTokenRow,
    Base,
    DiscoveredVmRow,
    DiskAttachmentRow,
    HostRow,
    HostVideoDeviceRow,
    NetworkRow,
    PortAttachmentRow,
    PortRow,
    SettingRow,
    StoragePoolRow,
    StorageVolumeRow,
    VideoAttachmentRow,
    VideoModelRow,
    VmRow,
)
from virtumancer.exceptions import ConflictError, InvalidInputError, NotFoundError
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.network import Network
from virtumancer.models.nodedev import GpuDevice
from virtumancer.models.records import (
    ActivityEvent,
    ActivityType,
    DashboardStats,
    DiscoveredVm,
    DiskAttachmentRecord,
    HostPortRecord,
    HostRecord,
    HostVideoDeviceRecord,
    NetworkRecord,
    PortAttachmentRecord,
    PortRecord,
    StoragePoolRecord,
    StorageVolumeRecord,
    VideoAttachmentRecord,
    VideoModelRecord,
    VmRecord,
)
from virtumancer.models.settings import MetricsSettings
from virtumancer.models.status import StatusCategory
from virtumancer.models.storage import StoragePool, StorageVolume
from virtumancer.models.tokens import ApiToken, Role, current_actor

__all__ = [
    "MANAGED_BY",
    "SyncOutcome",
    "add_activity",
    "apply_domains",
    "apply_gpus",
    "apply_networks",
    "apply_storage",
    "dashboard_stats",
    "delete_host",
    "delete_orphan_ports",
    "dismiss_discovered",
    "find_token",
    "get_host",
    "get_metrics_settings",
    "get_vm",
    "import_domains",
    "insert_host",
    "insert_token",
    "list_discovered",
    "list_disk_attachments",
    "list_host_ports",
    "list_host_video_devices",
    "list_hosts",
    "list_networks",
    "list_port_attachments",
    "list_ports",
    "list_storage_pools",
    "list_storage_volumes",
    "list_tokens",
    "list_video_attachments",
    "list_video_models",
    "list_vms",
    "managed_uuids",
    "mark_domain_missing",
    "recent_activity",
    "revoke_token",
    "save_metrics_settings",
    "token_by_hash",
    "unimportable_uuids",
    "update_host",
    "volume_sizes",
]

#: ``managed_by`` value of the provenance we write into a domain's ``<metadata>``.
MANAGED_BY = "virtumancer"
#: ``last_seen_at`` of a discovered VM is refreshed only when older than this, so a
#: reconciliation that finds nothing changed writes nothing.
LAST_SEEN_REFRESH = dt.timedelta(minutes=15)

_UNSET: Any = object()


def _table(row: type[Base]) -> Table:
    """Return the Core table of a row class (bulk statements skip the ORM's bookkeeping)."""
    return cast(Table, row.__table__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _set(row: object, **values: object) -> bool:
    """Assign only the attributes that differ; return whether anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


_Row = TypeVar("_Row", bound=Base)


def _sync_rows(
    session: Session,
    existing: dict[str, _Row],
    wanted: Mapping[str, dict[str, object]],
    new_row: Callable[[str, dict[str, object]], _Row],
) -> tuple[dict[str, _Row], bool]:
    """Make ``existing`` rows (by key) hold ``wanted``: update, add the new, delete the rest.

    Return the rows now wanted, by key, and whether anything changed.
    """
    changed = False
    rows: dict[str, _Row] = {}
    for key, values in wanted.items():
        row = existing.pop(key, None)
        if row is None:
            row = new_row(key, values)
            session.add(row)
            changed = True
        else:
            changed |= _set(row, **values)
        rows[key] = row
    for row in existing.values():
        session.delete(row)
        changed = True
    return rows, changed


# --- hosts --------------------------------------------------------------------------------


def _host_row(session: Session, host_id: str) -> HostRow:
    row = session.get(HostRow, host_id)
    if row is None:
        raise NotFoundError(f"host {host_id!r} not found", host_id=host_id)
    return row


def list_hosts(session: Session) -> list[HostRecord]:
    """Return every host, oldest first."""
    rows = session.scalars(select(HostRow).order_by(HostRow.created_at, HostRow.id))
    return [convert.host_record(row) for row in rows]


def get_host(session: Session, host_id: str) -> HostRecord:
    """Return one host (:class:`NotFoundError`)."""
    return convert.host_record(_host_row(session, host_id))


def insert_host(
    session: Session, host_id: str, uri: str, *, state: str = "DISCONNECTED"
) -> HostRecord:
    """Store a new host (:class:`ConflictError` if the id exists)."""
    if session.get(HostRow, host_id) is not None:
        raise ConflictError(f"host {host_id!r} already exists", host_id=host_id)
    now = _now()
    row = HostRow(
        id=host_id,
        uri=uri,
        state=state,
        auto_reconnect_disabled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return convert.host_record(row)


def update_host(
    session: Session,
    host_id: str,
    *,
    state: str = _UNSET,
    last_error: str | None = _UNSET,
    auto_reconnect_disabled: bool = _UNSET,
) -> tuple[HostRecord, bool]:
    """Change a host's stored state; return the record and whether anything changed."""
    row = _host_row(session, host_id)
    values = {
        name: value
        for name, value in (
            ("state", state),
            ("last_error", last_error),
            ("auto_reconnect_disabled", auto_reconnect_disabled),
        )
        if value is not _UNSET
    }
    changed = _set(row, **values)
    if changed:
        row.updated_at = _now()
    return convert.host_record(row), changed


def delete_host(session: Session, host_id: str) -> None:
    """Remove a host and everything known about it (:class:`NotFoundError`)."""
    row = _host_row(session, host_id)
    session.delete(row)
    session.flush()


# --- activity -----------------------------------------------------------------------------


class _ActivityClock:
    """Hands out activity timestamps that never go backwards in this process.

    An entry may carry the time its event happened, which can be older than an entry already
    written (a host event is handled after a write it raced with), and two entries can share
    a clock tick. The feed is newest first by timestamp, so each entry gets at least the
    previous entry's time plus a microsecond. The lock is held across the INSERT too, so ids
    (given out by the database at INSERT) follow the same order as timestamps even when
    several PostgreSQL sessions write at once.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._last = dt.datetime.min

    def next(self, wanted: dt.datetime) -> dt.datetime:
        """Return ``wanted`` or, if it is not after the last one, the last plus 1 µs."""
        self._last = max(wanted, self._last + _TICK)
        return self._last


_TICK = dt.timedelta(microseconds=1)
_ACTIVITY_CLOCK = _ActivityClock()


def _insert_activity(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Insert feed entries (``timestamp`` is when each happened; ``None`` means now)."""
    # Pending changes go out before the lock is taken: only this INSERT runs under it.
    session.flush()
    with _ACTIVITY_CLOCK.lock:
        rows = [
            {**entry, "timestamp": _ACTIVITY_CLOCK.next(entry["timestamp"] or _now())}
            for entry in entries
        ]
        session.execute(insert(_table(ActivityRow)), rows)


def add_activity(
    session: Session,
    type: str,
    message: str,
    *,
    host_id: str | None = None,
    vm_name: str | None = None,
    timestamp: dt.datetime | None = None,
    actor: str | None = _UNSET,
) -> None:
    """Append an entry to the activity feed (``timestamp`` defaults to now).

    ``actor`` defaults to :data:`~virtumancer.models.tokens.current_actor` (who the running
    request acts for).
    """
    _insert_activity(
        session,
        [
            {
                "timestamp": convert.naive_utc(timestamp) if timestamp is not None else None,
                "type": type,
                "message": message,
                "host_id": host_id,
                "vm_name": vm_name,
                "actor": current_actor.get() if actor is _UNSET else actor,
            }
        ],
    )


def recent_activity(session: Session, limit: int = 10) -> list[ActivityEvent]:
    """Return the newest ``limit`` activity entries, newest first (by timestamp, then id)."""
    if limit < 1:
        raise InvalidInputError("limit must be a positive integer", field="limit")
    rows = session.scalars(
        select(ActivityRow)
        .order_by(ActivityRow.timestamp.desc(), ActivityRow.id.desc())
        .limit(limit)
    )
    return [convert.activity_record(row) for row in rows]


# --- VMs ----------------------------------------------------------------------------------


def list_vms(session: Session, host_id: str) -> list[VmRecord]:
    """Return the managed VMs of a host, by name (:class:`NotFoundError` for a bad host)."""
    _host_row(session, host_id)
    rows = session.scalars(select(VmRow).where(VmRow.host_id == host_id).order_by(VmRow.name))
    return [convert.vm_record(row) for row in rows]


def _vm_row(session: Session, host_id: str, vm_name: str) -> VmRow:
    row = session.scalars(
        select(VmRow)
        .where(VmRow.host_id == host_id, VmRow.name == vm_name)
        .order_by(VmRow.gone_at.is_not(None), VmRow.id)
    ).first()
    if row is None:
        _host_row(session, host_id)
        raise NotFoundError(f"VM {vm_name!r} not found", host_id=host_id, vm_name=vm_name)
    return row


def get_vm(session: Session, host_id: str, vm_name: str) -> VmRecord:
    """Return one managed VM by name (:class:`NotFoundError`)."""
    return convert.vm_record(_vm_row(session, host_id, vm_name))


def managed_uuids(session: Session, host_id: str) -> set[str]:
    """Return the domain UUIDs of the managed VMs of a host."""
    return set(session.scalars(select(VmRow.uuid).where(VmRow.host_id == host_id)))


# --- inventory sync -----------------------------------------------------------------------


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


def _is_ours(domain: Domain) -> bool:
    return domain.metadata is not None and domain.metadata.managed_by == MANAGED_BY


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


_STATE_ACTIVITY = {
    DomainState.RUNNING: (ActivityType.VM_STARTED, "started"),
    DomainState.PAUSED: (ActivityType.VM_SUSPENDED, "suspended"),
    DomainState.PMSUSPENDED: (ActivityType.VM_SUSPENDED, "suspended"),
    DomainState.SHUTOFF: (ActivityType.VM_STOPPED, "stopped"),
    DomainState.SHUTDOWN: (ActivityType.VM_STOPPED, "stopped"),
    DomainState.CRASHED: (ActivityType.VM_CRASHED, "crashed"),
}
_RUNNING_LIKE = {DomainState.RUNNING, DomainState.BLOCKED}
_SUSPENDED = {DomainState.PAUSED, DomainState.PMSUSPENDED}


def _state_activity(old: int, new: int, hint: str | None) -> tuple[str, str] | None:
    """Return the (type, verb) of a state change worth an activity entry."""
    if old == new:
        return None
    if new in _RUNNING_LIKE and old in _RUNNING_LIKE:
        return None
    if new in _RUNNING_LIKE and old in _SUSPENDED:
        return ActivityType.VM_RESUMED, "resumed"
    if new in (DomainState.PAUSED, DomainState.PMSUSPENDED) and old in _SUSPENDED:
        return None
    if new in (DomainState.SHUTOFF, DomainState.SHUTDOWN) and old in (
        DomainState.SHUTOFF,
        DomainState.SHUTDOWN,
    ):
        return None
    if hint == ActivityType.VM_CRASHED and new in (DomainState.SHUTOFF, DomainState.CRASHED):
        return ActivityType.VM_CRASHED, "crashed"
    key = DomainState.RUNNING if new == DomainState.BLOCKED else new
    try:
        return _STATE_ACTIVITY[DomainState(key)]
    except (KeyError, ValueError):
        return None


class _Lookups:
    """Lookups shared by every VM of one sync: volume sizes, ports by MAC, video models."""

    def __init__(self, session: Session, host_id: str) -> None:
        self.session = session
        self.host_id = host_id
        self._volume_sizes: dict[str, int] | None = None
        self._ports: dict[str, PortRow] | None = None
        self._video_models: dict[tuple[str, int, int, bool], VideoModelRow] | None = None

    @property
    def volume_sizes(self) -> dict[str, int]:
        if self._volume_sizes is None:
            self._volume_sizes = volume_sizes(self.session, self.host_id)
        return self._volume_sizes

    def plan(self, domain: Domain) -> _Plan:
        return _plan(domain, self.volume_sizes)

    def port(self, mac: str, model: str | None) -> PortRow:
        """Return the ORM row of a port, adding it if new."""
        if self._ports is None:
            rows = self.session.scalars(select(PortRow).where(PortRow.host_id == self.host_id))
            self._ports = {row.mac_address: row for row in rows}
        row = self._ports.get(mac)
        if row is None:
            row = PortRow(host_id=self.host_id, mac_address=mac, model_name=model)
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
                select(PortRow.mac_address, PortRow.id).where(PortRow.host_id == self.host_id)
            )
        }
        missing = [
            {"host_id": self.host_id, "mac_address": mac, "model_name": model}
            for mac, model in models.items()
            if mac not in ids
        ]
        if missing:
            result = self.session.execute(
                insert(_table(PortRow)).returning(
                    PortRow.mac_address, PortRow.id, sort_by_parameter_order=True
                ),
                missing,
            )
            ids.update({row.mac_address: row.id for row in result})
            self._ports = None  # the ORM map no longer knows every port
        return ids

    def video_model(self, name: str, vram: int, heads: int, accel: bool) -> VideoModelRow:
        if self._video_models is None:
            rows = self.session.scalars(select(VideoModelRow))
            self._video_models = {
                (row.model_name, row.vram, row.heads, row.accel_3d): row for row in rows
            }
        key = (name, vram, heads, accel)
        row = self._video_models.get(key)
        if row is None:
            row = VideoModelRow(model_name=name, vram=vram, heads=heads, accel_3d=accel)
            self.session.add(row)
            self.session.flush()
            self._video_models[key] = row
        return row


def _disk_path(disk: Any) -> str | None:
    if disk.source_path:
        return str(disk.source_path)
    if disk.source_pool and disk.source_volume:
        return f"{disk.source_pool}/{disk.source_volume}"
    return str(disk.source_name) if disk.source_name else None


PortPlan = tuple[str, str | None, str, str | None]  # mac, model, interface type, source
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
        path = _disk_path(disk)
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
    ports: dict[str, PortPlan] = {}
    seen_macs: set[str] = set()
    for index, interface in enumerate(domain.devices.interfaces):
        mac = interface.mac.lower() if interface.mac else None
        if mac is None or mac in seen_macs:
            continue
        seen_macs.add(mac)
        source = interface.source_network or interface.source_bridge or interface.source_dev
        ports[f"eth{index}"] = (mac, interface.model, interface.type, source)
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


def _sync_hardware(vm: VmRow, plan: _Plan, lookups: _Lookups) -> bool:
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
            vm.disks.append(DiskAttachmentRow(device_name=name, **values))
            changed = True
        else:
            changed |= _set(disk_row, **values)
    existing_ports = {row.device_name: row for row in vm.ports}
    for name, (mac, model, kind, source) in plan.ports.items():
        port = lookups.port(mac, model)
        found_port = existing_ports.get(name)
        if found_port is None:
            vm.ports.append(
                PortAttachmentRow(port=port, device_name=name, interface_type=kind, source=source)
            )
            changed = True
        else:
            changed |= _set(found_port, interface_type=kind, source=source)
    existing_videos = {row.monitor_index: row for row in vm.videos}
    for index, (model_name, vram, heads, accel, primary) in enumerate(plan.videos):
        video_model = lookups.video_model(model_name, vram, heads, accel)
        found_video = existing_videos.get(index)
        if found_video is None:
            vm.videos.append(
                VideoAttachmentRow(
                    video_model_id=video_model.id, monitor_index=index, primary=primary
                )
            )
            changed = True
        else:
            changed |= _set(found_video, video_model_id=video_model.id, primary=primary)
    return changed


def _insert_vms(
    session: Session, host_id: str, plans: Sequence[_Plan], lookups: _Lookups, now: dt.datetime
) -> None:
    """Insert new VMs with all their attachments, a few statements for any number of VMs."""
    if not plans:
        return
    result = session.execute(
        insert(_table(VmRow)).returning(VmRow.uuid, VmRow.id, sort_by_parameter_order=True),
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
        session.execute(insert(_table(DiskAttachmentRow)), disks)
    models = {mac: model for plan in plans for mac, model, _, _ in plan.ports.values()}
    if models:
        port_ids = lookups.port_ids(models)
        session.execute(
            insert(_table(PortAttachmentRow)),
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
        session.execute(insert(_table(VideoAttachmentRow)), videos)


def _update_vm(
    session: Session,
    vm: VmRow,
    plan: _Plan,
    lookups: _Lookups,
    now: dt.datetime,
    hint: str | None,
) -> bool:
    old_state = vm.state
    changed = _set(vm, **plan.values)
    if vm.gone_at is not None:
        vm.gone_at = None
        changed = True
    changed |= _sync_hardware(vm, plan, lookups)
    changed |= _set(vm, fingerprint=plan.fingerprint)
    if hint == ActivityType.VM_REBOOTED:
        add_activity(
            session,
            ActivityType.VM_REBOOTED,
            f"VM {vm.name} rebooted on host {vm.host_id}",
            host_id=vm.host_id,
            vm_name=vm.name,
            timestamp=now,
        )
    transition = _state_activity(old_state, vm.state, hint)
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


def _vm_rows(session: Session, host_id: str, uuids: Collection[str] | None) -> dict[str, VmRow]:
    query = (
        select(VmRow)
        .where(VmRow.host_id == host_id)
        .options(
            selectinload(VmRow.disks),
            selectinload(VmRow.ports).selectinload(PortAttachmentRow.port),
            selectinload(VmRow.videos),
        )
    )
    if uuids is not None:
        query = query.where(VmRow.uuid.in_(list(uuids)))
    return {row.uuid: row for row in session.scalars(query)}


def _vm_index(session: Session, host_id: str, uuids: Collection[str] | None) -> dict[str, Any]:
    """Return ``{uuid: (id, uuid, fingerprint, gone_at)}`` of a host's VMs, without the ORM."""
    query = select(VmRow.id, VmRow.uuid, VmRow.fingerprint, VmRow.gone_at).where(
        VmRow.host_id == host_id
    )
    if uuids is not None:
        query = query.where(VmRow.uuid.in_(list(uuids)))
    return {row.uuid: row for row in session.execute(query)}


def _discovered_index(
    session: Session, host_id: str, uuids: Collection[str] | None
) -> dict[str, Any]:
    query = select(
        DiscoveredVmRow.domain_uuid,
        DiscoveredVmRow.name,
        DiscoveredVmRow.imported,
        DiscoveredVmRow.last_seen_at,
    ).where(DiscoveredVmRow.host_id == host_id)
    if uuids is not None:
        query = query.where(DiscoveredVmRow.domain_uuid.in_(list(uuids)))
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
    now = convert.naive_utc(now) if now is not None else _now()
    hints = hints or {}
    outcome = SyncOutcome()
    lookups = _Lookups(session, host_id)
    only = None if complete else [domain.uuid for domain in domains]
    index = _vm_index(session, host_id, only)
    plans = {domain.uuid: lookups.plan(domain) for domain in domains}
    to_update: list[Domain] = []
    to_adopt: list[Domain] = []
    for domain in domains:
        row = index.get(domain.uuid)
        if row is None:
            if _is_ours(domain):
                # Provenance in the domain's metadata: a fresh database re-learns the VM.
                to_adopt.append(domain)
            continue
        if not _is_ours(domain):
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
                update(DiscoveredVmRow)
                .where(
                    DiscoveredVmRow.host_id == host_id,
                    DiscoveredVmRow.domain_uuid == domain.uuid,
                )
                .values(**changes)
            )
            outcome.discovered_changed = True
    if new_rows:
        session.execute(insert(_table(DiscoveredVmRow)), new_rows)
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
                delete(DiscoveredVmRow).where(
                    DiscoveredVmRow.host_id == host_id,
                    DiscoveredVmRow.domain_uuid.in_(missing_discovered),
                )
            )
            outcome.discovered_changed = True
    session.flush()
    return outcome


def _vm_missing(session: Session, vm: VmRow, now: dt.datetime) -> bool:
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
    now = convert.naive_utc(now) if now is not None else _now()
    outcome = SyncOutcome()
    vm = session.scalars(
        select(VmRow).where(VmRow.host_id == host_id, VmRow.uuid == domain_uuid)
    ).first()
    if vm is not None and vm.gone_at is None:
        vm.gone_at = now
        vm.updated_at = now
        outcome.vms_changed = True
    row = session.get(DiscoveredVmRow, (host_id, domain_uuid))
    if row is not None:
        session.delete(row)
        outcome.discovered_changed = True
    session.flush()
    return outcome


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
    now = convert.naive_utc(now) if now is not None else _now()
    _host_row(session, host_id)
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
        if not _is_ours(domain):
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
            update(DiscoveredVmRow)
            .where(DiscoveredVmRow.host_id == host_id, DiscoveredVmRow.domain_uuid.in_(known))
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
            session.execute(insert(_table(DiscoveredVmRow)), unknown)
        _insert_activity(
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


def list_discovered(session: Session, host_id: str) -> list[DiscoveredVm]:
    """Return the discovered VMs of a host not imported and not dismissed, by name."""
    _host_row(session, host_id)
    rows = session.scalars(
        select(DiscoveredVmRow)
        .where(
            DiscoveredVmRow.host_id == host_id,
            DiscoveredVmRow.imported.is_(False),
            DiscoveredVmRow.dismissed.is_(False),
        )
        .order_by(DiscoveredVmRow.name)
    )
    return [convert.discovered_record(row) for row in rows]


def discovered_uuids(session: Session, host_id: str) -> dict[str, str]:
    """Return ``{uuid: name}`` of the importable discovered VMs of a host."""
    return {vm.domain_uuid: vm.name for vm in list_discovered(session, host_id)}


def unimportable_uuids(session: Session, host_id: str) -> set[str]:
    """Return the UUIDs "import all" leaves alone: managed or dismissed domains."""
    _host_row(session, host_id)
    managed = session.scalars(select(VmRow.uuid).where(VmRow.host_id == host_id))
    dismissed = session.scalars(
        select(DiscoveredVmRow.domain_uuid).where(
            DiscoveredVmRow.host_id == host_id, DiscoveredVmRow.dismissed.is_(True)
        )
    )
    return set(managed) | set(dismissed)


def dismiss_discovered(session: Session, host_id: str, domain_uuids: Iterable[str]) -> int:
    """Hide discovered VMs while the same domains exist; return how many were dismissed."""
    _host_row(session, host_id)
    wanted = list(set(domain_uuids))
    result = session.execute(
        update(DiscoveredVmRow)
        .where(
            DiscoveredVmRow.host_id == host_id,
            DiscoveredVmRow.domain_uuid.in_(wanted),
            DiscoveredVmRow.imported.is_(False),
            DiscoveredVmRow.dismissed.is_(False),
        )
        .values(dismissed=True)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- storage, networks, GPUs --------------------------------------------------------------


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
            select(StoragePoolRow)
            .where(StoragePoolRow.host_id == host_id)
            .options(selectinload(StoragePoolRow.volumes))
        )
    }

    def new_pool(uuid: str, values: dict[str, object]) -> StoragePoolRow:
        row = StoragePoolRow(host_id=host_id, uuid=uuid, **values)
        row.volumes = []
        return row

    rows, changed = _sync_rows(
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
                pool_row.volumes.append(StorageVolumeRow(name=name, **volume_values))
                changed = True
            else:
                changed |= _set(found_volume, **volume_values)
    session.flush()
    return changed


def apply_networks(session: Session, host_id: str, networks: Sequence[Network]) -> bool:
    """Make a host's networks match libvirt; return whether anything changed."""
    existing = {
        row.uuid: row
        for row in session.scalars(select(NetworkRow).where(NetworkRow.host_id == host_id))
    }
    _, changed = _sync_rows(
        session,
        existing,
        {
            network.uuid: {
                "name": network.name,
                "bridge_name": network.bridge,
                "mode": network.forward_mode or "isolated",
                "active": network.active,
            }
            for network in networks
        },
        lambda uuid, values: NetworkRow(host_id=host_id, uuid=uuid, **values),
    )
    session.flush()
    return changed


def apply_gpus(session: Session, host_id: str, gpus: Sequence[GpuDevice]) -> bool:
    """Make a host's GPUs match its node devices; return whether anything changed."""
    existing = {
        row.name: row
        for row in session.scalars(
            select(HostVideoDeviceRow).where(HostVideoDeviceRow.host_id == host_id)
        )
    }
    _, changed = _sync_rows(
        session,
        existing,
        {
            gpu.name: {
                "pci_address": str(gpu.address),
                "vendor": gpu.vendor_name or f"0x{gpu.vendor_id:04x}",
                "model_name": gpu.product_name or f"0x{gpu.product_id:04x}",
                "driver": gpu.driver,
            }
            for gpu in gpus
        },
        lambda name, values: HostVideoDeviceRow(host_id=host_id, name=name, **values),
    )
    session.flush()
    return changed


# --- listings -----------------------------------------------------------------------------


def list_storage_pools(session: Session, host_id: str | None = None) -> list[StoragePoolRecord]:
    """Return the storage pools of one host or of all hosts."""
    query = select(StoragePoolRow).order_by(StoragePoolRow.host_id, StoragePoolRow.name)
    if host_id is not None:
        _host_row(session, host_id)
        query = query.where(StoragePoolRow.host_id == host_id)
    return [convert.storage_pool_record(row) for row in session.scalars(query)]


def list_storage_volumes(session: Session, host_id: str | None = None) -> list[StorageVolumeRecord]:
    """Return every volume of every pool of one host or of all hosts."""
    query = (
        select(StorageVolumeRow, StoragePoolRow)
        .join(StoragePoolRow)
        .order_by(StoragePoolRow.host_id, StoragePoolRow.name, StorageVolumeRow.name)
    )
    if host_id is not None:
        _host_row(session, host_id)
        query = query.where(StoragePoolRow.host_id == host_id)
    return [convert.storage_volume_record(volume, pool) for volume, pool in session.execute(query)]


def volume_sizes(session: Session, host_id: str) -> dict[str, int]:
    """Return the capacity of every pool volume of a host by path (one query)."""
    rows = session.execute(
        select(StorageVolumeRow.path, StorageVolumeRow.capacity_bytes)
        .join(StoragePoolRow)
        .where(StoragePoolRow.host_id == host_id, StorageVolumeRow.path.is_not(None))
    )
    return {row.path: row.capacity_bytes for row in rows}


def list_disk_attachments(session: Session) -> list[DiskAttachmentRecord]:
    """Return the disks of every managed VM."""
    query = (
        select(DiskAttachmentRow, VmRow)
        .join(VmRow)
        .order_by(VmRow.host_id, VmRow.name, DiskAttachmentRow.device_name)
    )
    return [convert.disk_attachment_record(disk, vm) for disk, vm in session.execute(query)]


def list_networks(session: Session, host_id: str | None = None) -> list[NetworkRecord]:
    """Return the networks of one host or of all hosts."""
    query = select(NetworkRow).order_by(NetworkRow.host_id, NetworkRow.name)
    if host_id is not None:
        _host_row(session, host_id)
        query = query.where(NetworkRow.host_id == host_id)
    return [convert.network_record(row) for row in session.scalars(query)]


def list_ports(session: Session) -> list[PortRecord]:
    """Return every port of every host."""
    query = select(PortRow).order_by(PortRow.host_id, PortRow.mac_address)
    return [convert.port_record(row) for row in session.scalars(query)]


def list_host_ports(session: Session, host_id: str) -> list[HostPortRecord]:
    """Return the ports of a host with the VMs they are attached to."""
    _host_row(session, host_id)
    query = (
        select(PortAttachmentRow, VmRow, PortRow)
        .join(VmRow, PortAttachmentRow.vm_id == VmRow.id)
        .join(PortRow, PortAttachmentRow.port_id == PortRow.id)
        .where(VmRow.host_id == host_id)
        .order_by(VmRow.name, PortAttachmentRow.device_name)
    )
    return [convert.host_port_record(a, vm, port) for a, vm, port in session.execute(query)]


def list_port_attachments(
    session: Session, host_id: str | None = None, vm_name: str | None = None
) -> list[PortAttachmentRecord]:
    """Return port attachments of every VM, of a host's VMs, or of one VM."""
    query = (
        select(PortAttachmentRow, VmRow)
        .join(VmRow, PortAttachmentRow.vm_id == VmRow.id)
        .order_by(VmRow.host_id, VmRow.name, PortAttachmentRow.device_name)
    )
    if host_id is not None:
        _host_row(session, host_id)
        query = query.where(VmRow.host_id == host_id)
        if vm_name is not None:
            query = query.where(VmRow.id == _vm_row(session, host_id, vm_name).id)
    return [convert.port_attachment_record(a, vm) for a, vm in session.execute(query)]


def list_video_models(session: Session) -> list[VideoModelRecord]:
    """Return every video model template seen on a VM."""
    query = select(VideoModelRow).order_by(VideoModelRow.id)
    return [convert.video_model_record(row) for row in session.scalars(query)]


def list_host_video_devices(session: Session, host_id: str) -> list[HostVideoDeviceRecord]:
    """Return the GPUs of a host."""
    _host_row(session, host_id)
    query = (
        select(HostVideoDeviceRow)
        .where(HostVideoDeviceRow.host_id == host_id)
        .order_by(HostVideoDeviceRow.pci_address)
    )
    return [convert.host_video_device_record(row) for row in session.scalars(query)]


def list_video_attachments(
    session: Session, host_id: str, vm_name: str
) -> list[VideoAttachmentRecord]:
    """Return the video adapters of one VM."""
    vm = _vm_row(session, host_id, vm_name)
    query = (
        select(VideoAttachmentRow)
        .where(VideoAttachmentRow.vm_id == vm.id)
        .order_by(VideoAttachmentRow.monitor_index)
    )
    return [convert.video_attachment_record(row, vm) for row in session.scalars(query)]


def dashboard_stats(session: Session) -> DashboardStats:
    """Return system-wide counters; storage figures are decimal GB, rounded."""
    total_hosts = session.scalar(select(func.count()).select_from(HostRow)) or 0
    connected = (
        session.scalar(
            select(func.count()).select_from(HostRow).where(HostRow.state == "CONNECTED")
        )
        or 0
    )
    total_vms = (
        session.scalar(select(func.count()).select_from(VmRow).where(VmRow.gone_at.is_(None))) or 0
    )
    active = (
        session.scalar(
            select(func.count())
            .select_from(VmRow)
            .where(
                VmRow.gone_at.is_(None),
                VmRow.state.in_([int(s) for s in DomainState if s.status is StatusCategory.ACTIVE]),
            )
        )
        or 0
    )
    capacity, allocation = session.execute(
        select(
            func.coalesce(func.sum(StoragePoolRow.capacity_bytes), 0),
            func.coalesce(func.sum(StoragePoolRow.allocation_bytes), 0),
        )
    ).one()
    return DashboardStats(
        total_hosts=int(total_hosts),
        connected_hosts=int(connected),
        total_vms=int(total_vms),
        active_vms=int(active),
        total_storage_gb=round(int(capacity) / 1e9),
        used_storage_gb=round(int(allocation) / 1e9),
    )


# --- settings -----------------------------------------------------------------------------

_METRICS_KEY = "metrics"


def get_metrics_settings(session: Session) -> MetricsSettings:
    """Return the stored metrics settings (defaults for anything never stored)."""
    row = session.get(SettingRow, _METRICS_KEY)
    if row is None:
        return MetricsSettings()
    stored = json.loads(row.value)
    known = {field.name for field in attrs.fields(MetricsSettings)}
    try:
        return MetricsSettings().merged({k: v for k, v in stored.items() if k in known})
    except InvalidInputError:
        # A value stored by an older version that is no longer valid: fall back to defaults.
        return MetricsSettings()


def save_metrics_settings(session: Session, settings: MetricsSettings) -> bool:
    """Store the metrics settings; return whether anything changed."""
    value = json.dumps(attrs.asdict(settings), sort_keys=True)
    row = session.get(SettingRow, _METRICS_KEY)
    if row is None:
        session.add(SettingRow(key=_METRICS_KEY, value=value))
        return True
    return _set(row, value=value)


def delete_orphan_ports(session: Session, host_id: str) -> None:
    """Forget ports no VM uses any more."""
    used = select(PortAttachmentRow.port_id)
    session.execute(delete(PortRow).where(PortRow.host_id == host_id, PortRow.id.not_in(used)))


# --- API tokens ---------------------------------------------------------------------------

#: ``last_used_at`` is written at most this often per token (a write per request is waste).
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=1)


def _token_record(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=convert.aware(row.created_at),
        expires_at=convert.aware(row.expires_at) if row.expires_at is not None else None,
        last_used_at=convert.aware(row.last_used_at) if row.last_used_at is not None else None,
        revoked_at=convert.aware(row.revoked_at) if row.revoked_at is not None else None,
    )


def insert_token(
    session: Session,
    *,
    token_id: str,
    name: str,
    role: Role,
    token_hash: str,
    expires_at: dt.datetime | None,
) -> ApiToken:
    """Store a new token (:class:`ConflictError` if the name is taken)."""
    if session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.name == name)) is not None:
        raise ConflictError(f"a token named {name!r} already exists", code="token_exists")
    row = ApiTokenRow(
        id=token_id,
        name=name,
        role=role.value,
        token_hash=token_hash,
        created_at=_now(),
        expires_at=convert.naive_utc(expires_at) if expires_at is not None else None,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent insert of the same name won the race
        raise ConflictError(f"a token named {name!r} already exists", code="token_exists") from None
    return _token_record(row)


def list_tokens(session: Session, *, include_revoked: bool = True) -> list[ApiToken]:
    """Return every token, oldest first."""
    query = select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.name)
    if not include_revoked:
        query = query.where(ApiTokenRow.revoked_at.is_(None))
    return [_token_record(row) for row in session.scalars(query)]


def find_token(session: Session, id_or_name: str, by_name: bool = True) -> ApiToken:
    """Return the token with this id, else (``by_name``) this name (:class:`NotFoundError`)."""
    row = session.get(ApiTokenRow, id_or_name)
    if row is None and by_name:
        row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.name == id_or_name))
    if row is None:
        raise NotFoundError(f"no token {id_or_name[:80]!r}")
    return _token_record(row)


def token_by_hash(session: Session, token_hash: str, now: dt.datetime) -> ApiToken | None:
    """Return the token whose secret hashes to ``token_hash``, noting its use (or ``None``).

    ``last_used_at`` is refreshed when older than :data:`TOKEN_USE_RESOLUTION`.
    """
    row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash))
    if row is None:
        return None
    naive_now = convert.naive_utc(now)
    if row.revoked_at is None and (
        row.last_used_at is None or naive_now - row.last_used_at >= TOKEN_USE_RESOLUTION
    ):
        row.last_used_at = naive_now
        session.flush()
    return _token_record(row)


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Mark a token revoked (again is harmless); :class:`NotFoundError` for an unknown id."""
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise NotFoundError(f"no token {token_id[:80]!r}")
    if row.revoked_at is None:
        row.revoked_at = _now()
        session.flush()
    return _token_record(row)
