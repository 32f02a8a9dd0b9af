"""Blocking attach and detach of a VM's disks and network interfaces.

A mixin of :class:`~virtumancer._libvirt.connection.LibvirtConnection`, like
:mod:`.lifecycle`. Device XML comes from the renderers of :mod:`virtumancer._xml.devices`
(from spec parts: a :data:`~virtumancer.models.spec.DiskSpec`, a
:class:`~virtumancer.models.spec.NicSpec`); a detach sends back the device's own element as
libvirt wrote it, so nothing of it has to be modelled. A live detach only *asks* the guest
to let go: libvirt's ``DEVICE_REMOVED`` event (a
:class:`~virtumancer.models.events.DomainDeviceEvent`) says when it did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import libvirt
from lxml import etree

from virtumancer._libvirt._operations import ConnectionOperations
from virtumancer._libvirt.lifecycle import (
    _SECURE_INACTIVE,
    _check_free_space,
    _check_volume_free,
    _new_volume_plan,
    _pool,
    _read,
    _volume,
    _volume_format,
)
from virtumancer._xml._parser import parse_xml
from virtumancer._xml.devices import disk_target_letters, render_disk, render_interface
from virtumancer.exceptions import ConflictError, NotFoundError
from virtumancer.models.devices import Disk, Interface
from virtumancer.models.domain import Domain

if TYPE_CHECKING:
    from virtumancer.models.lifecycle import DeviceScope
    from virtumancer.models.spec import DiskBus, DiskSource, DiskSpec, NewVolume, NicSpec, Overlay

__all__ = ["DeviceOperations", "affect_flags"]


# By DiskBus value (a StrEnum): keyed by str so the spec models need not load with this module.
_PREFIX: Final = {"virtio": "vd", "sata": "sd", "scsi": "sd", "ide": "hd"}
_LIVE: Final = libvirt.VIR_DOMAIN_AFFECT_LIVE
_CONFIG: Final = libvirt.VIR_DOMAIN_AFFECT_CONFIG


def affect_flags(dom: Any, scope: DeviceScope | None, *, host_id: str) -> int:
    """Return the ``VIR_DOMAIN_AFFECT_*`` flags of ``scope`` for ``dom``; 409 when it cannot.

    ``None``: the running VM (and its definition when it is persistent), or the definition
    of a stopped one.
    """
    active = bool(dom.isActive())
    persistent = bool(dom.isPersistent())
    if scope is None:
        return (_LIVE if active else 0) | (_CONFIG if persistent else 0)
    from virtumancer.models.lifecycle import DeviceScope  # not on a listing's import path

    flags = {
        DeviceScope.LIVE: _LIVE,
        DeviceScope.CONFIG: _CONFIG,
        DeviceScope.BOTH: _LIVE | _CONFIG,
    }[DeviceScope(scope)]
    for flag, present, missing in (
        (_LIVE, active, "is not running: no live device to change"),
        (_CONFIG, persistent, "is transient: it has no definition to change"),
    ):
        if flags & flag and not present:
            raise ConflictError(
                f"VM {dom.name()!r} {missing}", field="scope", host_id=host_id, vm_name=dom.name()
            )
    return int(flags)


def _targets(dom: Any) -> set[str]:
    """Every disk target the VM uses, running or defined (a new one must clash with none)."""
    documents = [dom.XMLDesc(0)]
    if dom.isPersistent():
        documents.append(dom.XMLDesc(_SECURE_INACTIVE))
    used: set[str] = set()
    for document in documents:
        for target in parse_xml(document).iterfind("devices/disk/target"):
            used.add(target.get("dev") or "")
    return used


def _free_target(used: set[str], bus: DiskBus) -> str:
    prefix = _PREFIX[bus]
    index = 0
    while prefix + disk_target_letters(index) in used:
        index += 1
    return prefix + disk_target_letters(index)


def _device_element(dom: Any, flags: int, tag: str, match: Callable[[Any], bool]) -> Any:
    # The live XML (it carries the alias libvirt matches a live device by).
    xml = dom.XMLDesc(0)
    for element in parse_xml(xml).iterfind(f"devices/{tag}"):
        if match(element):
            return element
    return None


def _attach(raw: Any, dom: Any, xml: bytes, flags: int) -> None:
    """Attach live through libvirt; a definition-only attach is an in-place XML edit.

    The edit (append to ``<devices>``, define again) works on every driver, the test
    driver included, and keeps every element of the definition we do not model.
    """
    if flags & _LIVE:
        dom.attachDeviceFlags(xml.decode(), flags)
        return
    root = parse_xml(dom.XMLDesc(_SECURE_INACTIVE))
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    element = parse_xml(xml)
    same = devices.findall(str(element.tag))
    if same:
        same[-1].addnext(element)
    else:
        devices.append(element)
    raw.defineXML(etree.tostring(root).decode())


def _detach(raw: Any, dom: Any, flags: int, tag: str, match: Callable[[Any], bool]) -> bool:
    """Detach the first ``<tag>`` that ``match``es; ``False`` when there is none."""
    if flags & _LIVE:
        element = _device_element(dom, flags, tag, match)
        if element is None:
            return False
        # The live alias and address are not in the definition: libvirt would miss the
        # device there. Without them it matches a NIC by MAC and a disk by target.
        for child in element.findall("alias") + element.findall("address"):
            element.remove(child)
        dom.detachDeviceFlags(etree.tostring(element).decode(), flags)
        return True
    root = parse_xml(dom.XMLDesc(_SECURE_INACTIVE))
    for element in root.iterfind(f"devices/{tag}"):
        if match(element):
            parent = element.getparent()
            assert parent is not None
            parent.remove(element)
            raw.defineXML(etree.tostring(root).decode())
            return True
    return False


class DeviceOperations(ConnectionOperations):
    """Attach and detach disks and NICs (mixed into ``LibvirtConnection``)."""

    def attach_disk(
        self,
        name_or_uuid: str,
        disk: DiskSpec,
        *,
        target: str | None = None,
        scope: DeviceScope | None = None,
    ) -> Domain:
        """Attach a disk (a new volume, an existing volume or path, an overlay); return the VM.

        ``target`` is the guest's device name (default: the first free one on the disk's bus,
        ``vdb`` ...). A new volume (named ``VM-TARGET.FORMAT`` unless named) is created first
        and deleted again if libvirt refuses the attach. :class:`ConflictError` for a target
        in use (``field="target"``) or a volume that does not fit, :class:`InvalidInputError`
        naming the field for an unknown pool or volume.
        """
        # The spec models load only when VMs are made: a script that lists domains skips them.
        from virtumancer.models.spec import (
            DiskBus,
            DiskDevice,
            DiskSource,
            ExistingPath,
            ExistingVolume,
        )

        def work(raw: Any) -> Domain:
            dom = self._lookup(name_or_uuid)
            flags = affect_flags(dom, scope, host_id=self.host_id)
            device = disk.device if isinstance(disk, ExistingVolume | ExistingPath) else None
            device = device or DiskDevice.DISK
            bus = disk.bus or (DiskBus.VIRTIO if device is DiskDevice.DISK else DiskBus.SATA)
            used = _targets(dom)
            dev = target or _free_target(used, bus)
            if target is not None and target in used:
                raise ConflictError(
                    f"VM {dom.name()!r} already has a disk {target!r}",
                    field="target",
                    host_id=self.host_id,
                    vm_name=dom.name(),
                )
            made: Any = None
            if isinstance(disk, ExistingPath):
                source = DiskSource(path=disk.path, format=disk.format)
            elif isinstance(disk, ExistingVolume):
                vol = _volume(_pool(raw, disk.pool, "disk.pool"), disk.volume, "disk.volume")
                source = DiskSource(path=vol.path(), format=_volume_format(vol))
            else:
                made, source = _create_volume(raw, disk, f"{dom.name()}-{dev}")
            xml = render_disk(
                Disk(
                    type="file",
                    device=device.value,
                    driver_name="qemu",
                    driver_type=source.format.value,
                    source_path=source.path,
                    target_dev=dev,
                    target_bus=bus.value,
                    read_only=device is DiskDevice.CDROM,
                )
            )
            try:
                _attach(raw, dom, xml, flags)
            except BaseException:
                if made is not None:
                    with contextlib.suppress(libvirt.libvirtError):
                        made.delete(0)
                raise
            return _read(dom)

        return self.call(work, vm_name=name_or_uuid)

    def detach_disk(
        self, name_or_uuid: str, target: str, *, scope: DeviceScope | None = None
    ) -> Domain:
        """Detach the disk whose guest device is ``target`` (``vdb``); return the VM.

        Its volume is kept. A live detach returns once libvirt asked the guest; the
        ``DEVICE_REMOVED`` event says when the guest let go. :class:`NotFoundError`
        (``field="target"``) when the VM has no such disk where ``scope`` says.
        """

        def match(element: Any) -> bool:
            found = element.find("target")
            return found is not None and found.get("dev") == target

        return self._detach_device(
            name_or_uuid, scope, "disk", match, missing=f"disk {target!r}", field="target"
        )

    def live_device_alias(self, name_or_uuid: str, tag: str, key: str) -> str | None:
        """Return the live alias of a running VM's disk (``tag="disk"``, ``key`` its target)
        or NIC (``tag="interface"``, ``key`` its MAC); ``None`` when it is not running or has
        no such device. What a ``DEVICE_REMOVED`` event names when the device goes.
        """
        wanted = key.lower()

        def work(raw: Any) -> str | None:
            dom = self._lookup(name_or_uuid)
            if not dom.isActive():
                return None
            for element in parse_xml(dom.XMLDesc(0)).iterfind(f"devices/{tag}"):
                found = element.find("target" if tag == "disk" else "mac")
                value = None if found is None else found.get("dev" if tag == "disk" else "address")
                alias = element.find("alias")
                if (value or "").lower() == wanted and alias is not None:
                    return alias.get("name")
            return None

        return self.call(work, vm_name=name_or_uuid)

    def attach_interface(
        self, name_or_uuid: str, nic: NicSpec, *, scope: DeviceScope | None = None
    ) -> Domain:
        """Attach a NIC on a libvirt network or a host bridge; return the VM.

        Without a MAC one is generated (QEMU's 52:54:00 prefix, none the VM has).
        :class:`ConflictError` (``field="nic.mac"``) for a MAC the VM already has.
        """
        import random  # not on a listing's import path

        from virtumancer.models._names import generate_mac

        def work(raw: Any) -> Domain:
            dom = self._lookup(name_or_uuid)
            flags = affect_flags(dom, scope, host_id=self.host_id)
            macs = {
                (element.get("address") or "").lower()
                for document in (dom.XMLDesc(0), dom.XMLDesc(_SECURE_INACTIVE))
                for element in parse_xml(document).iterfind("devices/interface/mac")
            }
            if nic.mac is not None and nic.mac in macs:
                raise ConflictError(
                    f"VM {dom.name()!r} already has a NIC {nic.mac}",
                    field="nic.mac",
                    host_id=self.host_id,
                    vm_name=dom.name(),
                )
            mac = nic.mac or generate_mac(random.SystemRandom(), taken=macs)
            xml = render_interface(
                Interface(
                    type="network" if nic.network is not None else "bridge",
                    mac=mac,
                    source_network=nic.network,
                    source_bridge=nic.bridge,
                    model=nic.model,
                )
            )
            _attach(raw, dom, xml, flags)
            return _read(dom)

        return self.call(work, vm_name=name_or_uuid)

    def detach_interface(
        self, name_or_uuid: str, mac: str, *, scope: DeviceScope | None = None
    ) -> Domain:
        """Detach the NIC with MAC ``mac``; return the VM (see :meth:`detach_disk`)."""
        wanted = mac.lower()

        def match(element: Any) -> bool:
            found = element.find("mac")
            return found is not None and (found.get("address") or "").lower() == wanted

        return self._detach_device(
            name_or_uuid, scope, "interface", match, missing=f"NIC {mac}", field="mac"
        )

    def _detach_device(
        self,
        name_or_uuid: str,
        scope: DeviceScope | None,
        tag: str,
        match: Callable[[Any], bool],
        *,
        missing: str,
        field: str,
    ) -> Domain:
        """Detach the first ``<tag>`` that ``match``es; :class:`NotFoundError` names ``missing``."""

        def work(raw: Any) -> Domain:
            dom = self._lookup(name_or_uuid)
            flags = affect_flags(dom, scope, host_id=self.host_id)
            if not _detach(raw, dom, flags, tag, match):
                raise NotFoundError(
                    f"VM {dom.name()!r} has no {missing}",
                    field=field,
                    host_id=self.host_id,
                    vm_name=dom.name(),
                )
            return _read(dom)

        return self.call(work, vm_name=name_or_uuid)


def _create_volume(
    raw: Any, disk: NewVolume | Overlay, default_name: str
) -> tuple[Any, DiskSource]:
    """Create the volume of a new disk or overlay (checked first); return it and its source."""
    from virtumancer.models.spec import DiskSource

    pool = _pool(raw, disk.pool, "disk.pool")
    name = disk.name or f"{default_name}.{disk.format.value}"
    _check_volume_free(pool, name, "disk.name")
    plan = _new_volume_plan(raw, pool, disk, name, "disk", 0)
    _check_free_space([plan])
    vol = pool.createXML(plan.xml.decode(), 0)
    return vol, DiskSource(path=vol.path(), format=disk.format)
