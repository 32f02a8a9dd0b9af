"""Blocking VM lifecycle operations: create from a spec, define from XML, change, delete.

A mixin of :class:`~virtumancer._libvirt.connection.LibvirtConnection` (so each operation is
declared once, as a connection method, and forwarded by one line in ``HostPool`` and
``SyncHost``). Each operation is one worker-thread call: it checks everything it can before it
makes anything, and a failure in the middle removes what it made (volumes created, the
domain defined or started), so nothing half-made is left behind.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

import attrs
import libvirt
from lxml import etree

from virtumancer._libvirt._operations import ConnectionOperations
from virtumancer._version import __version__
from virtumancer._xml._parser import parse_xml
from virtumancer._xml.domain import parse_domain
from virtumancer._xml.lifecycle import DomainEdit, edit_domain_xml, render_volume, with_metadata
from virtumancer.exceptions import ConflictError, InvalidInputError
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.metadata import VirtumancerMetadata

if TYPE_CHECKING:
    from virtumancer.models.lifecycle import DeletePlan, VmChange
    from virtumancer.models.spec import (
        DiskSource,
        NewVolume,
        Overlay,
        VmSpec,
        VolumeFormat,
    )

__all__ = ["LifecycleOperations", "provenance", "seed_volume_name"]


_SECURE_INACTIVE: Final = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
_UPLOAD_CHUNK: Final = 256 * 1024


def provenance() -> VirtumancerMetadata:
    """Return our ``<metadata>`` provenance for a VM made now, on this machine."""
    # Here, not at the top: only VM creation needs them, not every connection.
    import datetime as dt
    import socket

    from virtumancer.rules import MANAGED_BY

    return VirtumancerMetadata(
        managed_by=MANAGED_BY,
        imported_at=dt.datetime.now(dt.UTC),
        imported_by=socket.gethostname(),
        version=__version__,
    )


def seed_volume_name(vm_name: str) -> str:
    """Return the name of the cloud-init seed ISO volume of a VM (deleted with its storage)."""
    return f"{vm_name}-cidata.iso"


def _error_code(exc: libvirt.libvirtError) -> int:
    return int(exc.get_error_code() or 0)


def _state(dom: Any) -> DomainState:
    try:
        return DomainState(int(dom.state()[0]))
    except ValueError:
        return DomainState.NOSTATE


def _read(dom: Any) -> Domain:
    return attrs.evolve(
        parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)),
        state=_state(dom),
        autostart=bool(dom.autostart()),
        persistent=bool(dom.isPersistent()),
    )


def _volume_format(vol: Any) -> VolumeFormat:
    # The spec models load only when VMs are made: a script that lists domains skips them.
    from virtumancer._xml.storage import parse_storage_volume
    from virtumancer.models import spec as _spec

    parsed = parse_storage_volume(vol.XMLDesc(0))
    return _spec.VolumeFormat.QCOW2 if parsed.format == "qcow2" else _spec.VolumeFormat.RAW


@attrs.frozen(kw_only=True)
class _NewVolumePlan:
    """A volume to create: where (pool), its XML, and which disk (``None``: the seed) it is."""

    pool: Any
    pool_name: str
    name: str
    xml: bytes
    format: VolumeFormat
    disk_index: int | None
    capacity: int
    counts_against_free_space: bool
    field: str


class LifecycleOperations(ConnectionOperations):
    """The lifecycle operations of a libvirt connection (mixed into ``LibvirtConnection``)."""

    # -- create ------------------------------------------------------------------------

    def create_vm(
        self,
        spec: VmSpec,
        *,
        start: bool = False,
        metadata: VirtumancerMetadata | None = None,
        uuid: str | None = None,
    ) -> Domain:
        """Create a VM from ``spec``: make its volumes and seed, define it, start it if asked.

        Defaults the spec left open come from the host's capabilities
        (:func:`~virtumancer.models.spec.resolve_spec_defaults`). Before anything is made:
        :class:`ConflictError` for a name in use (``field="name"``) or a volume name in use,
        :class:`InvalidInputError` naming the field for an unknown pool or volume,
        :class:`ConflictError` (``disks[i].size_bytes``) when new volumes do not fit in
        their pool's free space. A failure after that removes every volume made and the
        definition. ``metadata`` is the provenance written into the domain (default:
        :func:`provenance`), so the VM is managed without an import.
        """
        # The spec models load only when VMs are made: a script that lists domains skips them.
        from virtumancer._xml.host import parse_capabilities
        from virtumancer.models import spec as _spec

        metadata = metadata or provenance()

        def work(raw: Any) -> Domain:
            capabilities = parse_capabilities(raw.getCapabilities())
            resolved = _spec.resolve_spec_defaults(
                spec, capabilities, firmware_files=_firmware_files(raw, spec)
            )
            _check_name_free(raw, resolved.name)
            plans, sources = _plan_disks(raw, resolved)
            seed: bytes | None = None
            if resolved.cloud_init is not None:
                from virtumancer.cloudinit import build_nocloud_iso  # pycdlib: only when used

                seed = build_nocloud_iso(resolved.cloud_init)
                plans.append(_seed_plan(raw, resolved, len(seed)))
            _check_free_space(plans)
            made: list[Any] = []
            dom: Any = None
            try:
                seed_source: DiskSource | None = None
                for plan in plans:
                    vol = plan.pool.createXML(plan.xml.decode(), 0)
                    made.append(vol)
                    source = _spec.DiskSource(path=vol.path(), format=plan.format)
                    if plan.disk_index is None:
                        _upload(raw, vol, seed or b"")
                        seed_source = source
                    else:
                        sources[plan.disk_index] = source
                from virtumancer._xml.spec import render_spec  # the spec renderer, on use

                xml = render_spec(
                    resolved,
                    disk_sources=[source for source in sources if source is not None],
                    metadata=metadata,
                    cloud_init_source=seed_source,
                    uuid=uuid,
                )
                dom = raw.defineXML(xml.decode())
                if start:
                    dom.create()
                return _read(dom)
            except BaseException:
                _undo(dom, made)
                raise

        return self.call(work, vm_name=spec.name)

    def define_vm_xml(
        self,
        xml: bytes | str,
        *,
        start: bool = False,
        metadata: VirtumancerMetadata | None = None,
    ) -> Domain:
        """Define a domain from raw XML (checked by the parser first), start it if asked.

        :class:`~virtumancer.exceptions.XMLParseError` for XML the parser refuses (nothing
        reaches libvirt), :class:`ConflictError` for a name (``field="name"``) or UUID
        (``field="uuid"``) in use. Our provenance is added to its ``<metadata>``.
        """
        parsed = parse_domain(xml)
        if not parsed.name:
            raise InvalidInputError("the domain XML has no <name>", field="xml")
        document = with_metadata(xml, metadata or provenance())

        def work(raw: Any) -> Domain:
            _check_name_free(raw, parsed.name)
            if parsed.uuid:
                with contextlib.suppress(libvirt.libvirtError):
                    other = raw.lookupByUUIDString(parsed.uuid)
                    raise ConflictError(
                        f"UUID {parsed.uuid} belongs to domain {other.name()!r}",
                        field="uuid",
                        host_id=self.host_id,
                        vm_name=parsed.name,
                    )
            dom = raw.defineXML(document.decode())
            try:
                if start:
                    dom.create()
                return _read(dom)
            except BaseException:
                _undo(dom, [])
                raise

        return self.call(work, vm_name=parsed.name)

    # -- delete ------------------------------------------------------------------------

    def delete_vm(
        self,
        name_or_uuid: str,
        *,
        delete_storage: bool = False,
        force: bool = False,
        delete_nvram: bool = True,
        delete_snapshots: bool = True,
    ) -> list[str]:
        """Undefine a VM; return the paths of the volumes deleted with it.

        A running VM is refused (:class:`ConflictError`, ``field="force"``) unless ``force``,
        which destroys it first. Snapshot metadata is removed with it
        (``delete_snapshots=False`` refuses a VM that has snapshots, ``field="delete_snapshots"``);
        UEFI variables (NVRAM) are deleted unless ``delete_nvram`` is false. With
        ``delete_storage`` the volumes of its writable disks are deleted, and its cloud-init
        seed; read-only and shareable media (an install ISO, a shared disk) and files in no
        pool are kept, as are backing files of overlays.
        """

        def work(raw: Any) -> list[str]:
            dom = self._lookup(name_or_uuid)
            name = dom.name()
            active = bool(dom.isActive())
            if active and not force:
                raise ConflictError(
                    f"VM {name!r} is running: stop it first or delete with force",
                    field="force",
                    host_id=self.host_id,
                    vm_name=name,
                )
            snapshots = int(dom.snapshotNum(0))
            if snapshots and not delete_snapshots:
                raise ConflictError(
                    f"VM {name!r} has {snapshots} snapshot(s)",
                    field="delete_snapshots",
                    host_id=self.host_id,
                    vm_name=name,
                )
            persistent = bool(dom.isPersistent())
            xml = dom.XMLDesc(_SECURE_INACTIVE if persistent else libvirt.VIR_DOMAIN_XML_SECURE)
            # Decided before anything is removed: the plan the delete-plan route shows.
            doomed, _kept = _storage_of(raw, name, xml) if delete_storage else ([], [])
            if active:
                dom.destroy()
            if persistent:
                _undefine(dom, keep_nvram=not delete_nvram)
            deleted: list[str] = []
            for path, vol in doomed:
                vol.delete(0)
                deleted.append(path)
            return deleted

        return self.call(work, vm_name=name_or_uuid)

    def delete_plan(self, name_or_uuid: str) -> DeletePlan:
        """Return what :meth:`delete_vm` would remove, changing nothing.

        The volumes are decided by the same rule :meth:`delete_vm` applies, so the plan is
        what a delete with ``delete_storage`` does (unless the VM changes in between).
        """
        from virtumancer.models.lifecycle import DeletePlan

        def work(raw: Any) -> DeletePlan:
            dom = self._lookup(name_or_uuid)
            name = dom.name()
            persistent = bool(dom.isPersistent())
            xml = dom.XMLDesc(_SECURE_INACTIVE if persistent else libvirt.VIR_DOMAIN_XML_SECURE)
            doomed, kept = _storage_of(raw, name, xml)
            nvram = (parse_xml(xml).findtext("os/nvram") or "").strip() or None
            return DeletePlan(
                vm_name=name,
                running=bool(dom.isActive()),
                volumes=tuple(path for path, _vol in doomed),
                kept=tuple(kept),
                nvram=nvram if persistent else None,
                snapshots=tuple(sorted(str(n) for n in dom.snapshotListNames(0))),
            )

        return self.call(work, vm_name=name_or_uuid)

    # -- change ------------------------------------------------------------------------

    def update_vm(self, name_or_uuid: str, change: VmChange) -> Domain:
        """Change a VM's definition in place: memory, vCPUs, description, autostart, media.

        The domain's own inactive XML is edited (:func:`edit_domain_xml`) and defined again,
        so every element Virtumancer does not model survives. A running VM gets new memory
        and vCPU counts at its next start; the description is also set live, CD-ROM media
        are changed live too (``updateDeviceFlags``). :class:`InvalidInputError` naming the
        field for a bad value.
        """
        _check_change(change)
        edit = DomainEdit(
            memory_bytes=change.memory_bytes,
            vcpus=change.vcpus,
            description=change.description,
            cdrom_media=tuple(sorted(change.cdrom_media.items())),
        )

        def work(raw: Any) -> Domain:
            dom = self._lookup(name_or_uuid)
            if not dom.isPersistent():
                raise ConflictError(
                    "a transient VM has no definition to change",
                    host_id=self.host_id,
                    vm_name=dom.name(),
                )
            xml = dom.XMLDesc(_SECURE_INACTIVE)
            changed = edit_domain_xml(xml, edit)
            if changed != edit_domain_xml(xml, DomainEdit()):
                dom = raw.defineXML(changed.decode())
            if dom.isActive():
                self._apply_live(dom, change)
            if change.autostart is not None and bool(dom.autostart()) != change.autostart:
                dom.setAutostart(int(change.autostart))
            return _read(dom)

        return self.call(work, vm_name=name_or_uuid)

    @staticmethod
    def _apply_live(dom: Any, change: VmChange) -> None:
        live = libvirt.VIR_DOMAIN_AFFECT_LIVE
        if change.description is not None:
            dom.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_DESCRIPTION,
                change.description or None,
                None,
                None,
                live,
            )
        if change.cdrom_media:
            current = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
            edited = parse_xml(
                edit_domain_xml(current, DomainEdit(cdrom_media=tuple(change.cdrom_media.items())))
            )
            for disk in edited.iterfind("devices/disk[@device='cdrom']"):
                target = disk.find("target")
                if target is not None and target.get("dev") in change.cdrom_media:
                    dom.updateDeviceFlags(etree.tostring(disk).decode(), live)


def _check_change(change: VmChange) -> None:
    if change.memory_bytes is not None:
        memory = change.memory_bytes
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1024 * 1024:
            raise InvalidInputError(
                "memory_bytes must be an integer of at least 1 MiB", field="memory_bytes"
            )
        if memory % 1024:
            raise InvalidInputError(
                "memory_bytes must be a whole number of KiB", field="memory_bytes"
            )
    if change.vcpus is not None:
        vcpus = change.vcpus
        if isinstance(vcpus, bool) or not isinstance(vcpus, int) or not 1 <= vcpus <= 4096:
            raise InvalidInputError("vcpus must be between 1 and 4096", field="vcpus")
    for target, path in change.cdrom_media.items():
        if path and not path.startswith("/"):
            raise InvalidInputError(
                f"cdrom_media.{target}: an absolute path, or '' to eject",
                field=f"cdrom_media.{target}",
            )


def _check_name_free(raw: Any, name: str) -> None:
    try:
        raw.lookupByName(name)
    except libvirt.libvirtError as exc:
        if _error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
            return
        raise
    raise ConflictError(f"a VM named {name!r} already exists", field="name", vm_name=name)


def _firmware_files(raw: Any, spec: VmSpec) -> list[str]:
    """Return the UEFI firmware images the host's QEMU offers (domain capabilities)."""
    from virtumancer.models.spec import Firmware

    if spec.firmware is not Firmware.UEFI or spec.firmware_loader is not None:
        return []
    try:
        document = raw.getDomainCapabilities(None, spec.arch, spec.machine, None, 0)
    except libvirt.libvirtError:
        return []

    root = parse_xml(document)
    paths = [value.text or "" for value in root.iterfind("os/loader/value")]
    # find_ovmf pairs code with vars by directory; list the directory's vars templates too.
    for path in list(paths):
        directory = path.rpartition("/")[0]
        paths.extend(f"{directory}/{name}" for name in ("OVMF_VARS_4M.fd", "OVMF_VARS.fd"))
    return paths


def _pool(raw: Any, name: str, field: str) -> Any:
    try:
        pool = raw.storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if _error_code(exc) == libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise InvalidInputError(f"{field}: no storage pool {name!r}", field=field) from None
        raise
    if not pool.isActive():
        raise ConflictError(f"{field}: storage pool {name!r} is not active", field=field)
    return pool


def _volume(pool: Any, name: str, field: str) -> Any:
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if _error_code(exc) == libvirt.VIR_ERR_NO_STORAGE_VOL:
            raise InvalidInputError(
                f"{field}: no volume {name!r} in pool {pool.name()!r}", field=field
            ) from None
        raise


def _check_volume_free(pool: Any, name: str, field: str) -> None:
    try:
        pool.storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if _error_code(exc) == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return
        raise
    raise ConflictError(
        f"{field}: a volume {name!r} already exists in pool {pool.name()!r}", field=field
    )


def _plan_disks(raw: Any, spec: VmSpec) -> tuple[list[_NewVolumePlan], list[DiskSource | None]]:
    """Look up every pool and volume the spec names; return what to create and what exists."""
    # The spec models load only when VMs are made: a script that lists domains skips them.
    from virtumancer.models import spec as _spec

    plans: list[_NewVolumePlan] = []
    sources: list[DiskSource | None] = []
    names: set[tuple[str, str]] = set()
    for index, disk in enumerate(spec.disks):
        at = f"disks[{index}]"
        if isinstance(disk, _spec.ExistingPath):
            sources.append(_spec.DiskSource(path=disk.path, format=disk.format))
            continue
        pool = _pool(raw, disk.pool, f"{at}.pool")
        if isinstance(disk, _spec.ExistingVolume):
            vol = _volume(pool, disk.volume, f"{at}.volume")
            sources.append(_spec.DiskSource(path=vol.path(), format=_volume_format(vol)))
            continue
        name = disk.name or f"{spec.name}-disk{index}.{disk.format.value}"
        if (disk.pool, name) in names:
            raise ConflictError(f"{at}.name: volume {name!r} is named twice", field=f"{at}.name")
        names.add((disk.pool, name))
        _check_volume_free(pool, name, f"{at}.name")
        plans.append(_new_volume_plan(raw, pool, disk, name, at, index))
        sources.append(None)
    return plans, sources


def _overlay_base(raw: Any, disk: Overlay, at: str) -> tuple[int, str]:
    """Return an overlay's size (its own, else the base's) and its base image's path."""
    if disk.base_path is not None:
        base_path = disk.base_path
        base_size: int | None = None
        with contextlib.suppress(libvirt.libvirtError):
            base_size = int(raw.storageVolLookupByPath(base_path).info()[1])
    else:
        # Overlay's own check: without base_path, both of these are set.
        base_pool = _pool(raw, disk.base_pool or "", f"{at}.base_pool")
        base = _volume(base_pool, disk.base_volume or "", f"{at}.base_volume")
        base_path = base.path()
        base_size = int(base.info()[1])
    size = disk.size_bytes or base_size
    if size is None:
        raise InvalidInputError(
            f"{at}.size_bytes: the base image is in no pool; give the overlay's size",
            field=f"{at}.size_bytes",
        )
    return size, base_path


def _seed_plan(raw: Any, spec: VmSpec, size: int) -> _NewVolumePlan:
    """Plan the cloud-init ISO volume, in the pool of the first disk that has one."""
    # The spec models load only when VMs are made: a script that lists domains skips them.
    from virtumancer.models import spec as _spec

    pool_name = next(
        (
            d.pool
            for d in spec.disks
            if isinstance(d, _spec.NewVolume | _spec.Overlay | _spec.ExistingVolume)
        ),
        None,
    )
    if pool_name is None:
        raise InvalidInputError(
            "cloud_init: the seed ISO is written into the pool of a disk; add a disk in a pool",
            field="cloud_init",
        )
    pool = _pool(raw, pool_name, "cloud_init")
    name = seed_volume_name(spec.name)
    _check_volume_free(pool, name, "cloud_init")
    return _NewVolumePlan(
        pool=pool,
        pool_name=pool_name,
        name=name,
        xml=render_volume(name, size, format=_spec.VolumeFormat.RAW.value),
        format=_spec.VolumeFormat.RAW,
        disk_index=None,
        capacity=size,
        counts_against_free_space=True,
        field="cloud_init",
    )


def _new_volume_plan(
    raw: Any, pool: Any, disk: NewVolume | Overlay, name: str, at: str, index: int
) -> _NewVolumePlan:
    """Plan the volume ``name`` of a new disk or an overlay, the ``index``-th disk (at ``at``)."""
    from virtumancer.models import spec as _spec

    if isinstance(disk, _spec.NewVolume):
        size = disk.size_bytes
        xml = render_volume(name, size, format=disk.format.value)
        counts = True
    else:
        size, base_path = _overlay_base(raw, disk, at)
        xml = render_volume(
            name,
            size,
            format=_spec.VolumeFormat.QCOW2.value,
            backing_path=base_path,
            backing_format=disk.base_format.value,
        )
        counts = False  # copy-on-write: it starts empty and grows with the guest's writes
    return _NewVolumePlan(
        pool=pool,
        pool_name=disk.pool,
        name=name,
        xml=xml,
        format=disk.format,
        disk_index=index,
        capacity=size,
        counts_against_free_space=counts,
        field=f"{at}.size_bytes",
    )


def _check_free_space(plans: list[_NewVolumePlan]) -> None:
    """Refuse (409) new volumes that do not fit in their pool's free space, all counted."""
    demand: dict[str, int] = {}
    available: dict[str, int] = {}
    for plan in plans:
        if not plan.counts_against_free_space:
            continue
        if plan.pool_name not in available:
            with contextlib.suppress(libvirt.libvirtError):
                plan.pool.refresh(0)  # a directory pool's figures are as of its last refresh
            available[plan.pool_name] = int(plan.pool.info()[3])
        demand[plan.pool_name] = demand.get(plan.pool_name, 0) + plan.capacity
        if demand[plan.pool_name] > available[plan.pool_name]:
            raise ConflictError(
                f"{plan.field}: {demand[plan.pool_name]} bytes of new volumes do not fit in "
                f"pool {plan.pool_name!r} ({available[plan.pool_name]} bytes free)",
                field=plan.field,
            )


def _upload(raw: Any, vol: Any, data: bytes) -> None:
    """Write ``data`` into a volume through a libvirt stream (works on remote hosts too)."""
    stream = raw.newStream(0)
    try:
        vol.upload(stream, 0, len(data), 0)
        for start in range(0, len(data), _UPLOAD_CHUNK):
            chunk = data[start : start + _UPLOAD_CHUNK]
            while chunk:
                sent = stream.send(chunk)
                chunk = chunk[sent:]
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise


def _storage_of(raw: Any, vm_name: str, xml: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """Split a VM's disk paths into the volumes deleted with its storage and those kept.

    Deleted: the volumes of writable, unshared disks, and the VM's cloud-init seed. Kept:
    read-only and shareable media (an install ISO, a shared disk), and files in no pool.
    """
    seed = seed_volume_name(vm_name)
    doomed: list[tuple[str, Any]] = []
    kept: list[str] = []
    for disk in parse_domain(xml).devices.disks:
        path = disk.source_path
        if path is None:
            continue
        ours = path.rpartition("/")[2] == seed
        if not ours and (disk.read_only or disk.shareable or disk.device != "disk"):
            kept.append(path)
            continue
        try:
            vol = raw.storageVolLookupByPath(path)
        except libvirt.libvirtError as exc:
            if _error_code(exc) == libvirt.VIR_ERR_NO_STORAGE_VOL:
                kept.append(path)  # a file in no pool: not ours to delete
                continue
            raise
        doomed.append((path, vol))
    return doomed, kept


def _undefine(dom: Any, *, keep_nvram: bool) -> None:
    """Undefine with snapshot, checkpoint and managed-save metadata, NVRAM kept or deleted."""
    base = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    nvram = (
        libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM if keep_nvram else libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    )
    try:
        dom.undefineFlags(base | nvram | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
    except libvirt.libvirtError as exc:
        # Drivers without NVRAM or checkpoints (the test driver) refuse those flags.
        if _error_code(exc) != libvirt.VIR_ERR_INVALID_ARG:
            raise
        dom.undefineFlags(base)


def _undo(dom: Any, volumes: list[Any]) -> None:
    """Remove what a failed create made: the domain (stopped, undefined) and its volumes."""
    if dom is not None:
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            _undefine(dom, keep_nvram=False)
    for vol in reversed(volumes):
        with contextlib.suppress(libvirt.libvirtError):
            vol.delete(0)
