"""Blocking storage and network definitions: directory pools, volumes, NAT networks.

A mixin of :class:`~virtumancer._libvirt.connection.LibvirtConnection`, like
:mod:`.lifecycle`. Everything is checked before libvirt is asked (names in use, paths,
sizes, addresses), and the refusals name the field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs
import libvirt
from lxml import etree

from virtumancer._libvirt._operations import ConnectionOperations
from virtumancer._libvirt.clone import CopyProgress, copy_into_pool
from virtumancer._libvirt.lifecycle import _SECURE_INACTIVE, _check_volume_free, _error_code, _pool
from virtumancer._xml._parser import parse_xml
from virtumancer._xml.lifecycle import render_volume
from virtumancer.exceptions import ConflictError, InvalidInputError, NotFoundError
from virtumancer.models._names import check_name

# The storage and network parsers and models load when those are used (each function
# imports what it needs), not with every connection: a plain domain listing skips them.
if TYPE_CHECKING:
    from virtumancer.models.network import NatNetworkSpec, Network
    from virtumancer.models.spec import VolumeFormat
    from virtumancer.models.storage import StoragePool, StorageVolume

__all__ = [
    "StorageNetworkOperations",
    "network_model",
    "pool_model",
    "render_dir_pool",
]


_POOL_STATES: Final = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}


def render_dir_pool(name: str, path: str) -> bytes:
    """Render a directory pool's ``<pool type='dir'>``."""
    root = etree.Element("pool", type="dir")
    etree.SubElement(root, "name").text = name
    target = etree.SubElement(root, "target")
    etree.SubElement(target, "path").text = path
    return etree.tostring(root)


def pool_model(pool: Any) -> StoragePool:
    """Return a pool's model with its state, sizes, autostart and persistence filled."""
    from virtumancer._xml.storage import parse_storage_pool

    state, capacity, allocation, available = pool.info()
    return attrs.evolve(
        parse_storage_pool(pool.XMLDesc(0)),
        state=_POOL_STATES.get(state, str(state)),
        capacity_bytes=capacity,
        allocation_bytes=allocation,
        available_bytes=available,
        autostart=bool(pool.autostart()),
        persistent=bool(pool.isPersistent()),
    )


def network_model(network: Any) -> Network:
    """Return a network's model with active, autostart and persistence filled."""
    from virtumancer._xml.network import parse_network

    return attrs.evolve(
        parse_network(network.XMLDesc(0)),
        active=bool(network.isActive()),
        autostart=bool(network.autostart()),
        persistent=bool(network.isPersistent()),
    )


class StorageNetworkOperations(ConnectionOperations):
    """Define and remove pools, volumes and networks (mixed into ``LibvirtConnection``)."""

    # -- storage pools --------------------------------------------------------------------

    def create_storage_pool(self, name: str, path: str, *, autostart: bool = True) -> StoragePool:
        """Define a directory pool at ``path`` (made if missing), start it; return it.

        :class:`ConflictError` (``field="name"``) for a pool name in use,
        :class:`InvalidInputError` (``field="path"``) for a relative path.
        """
        check_name(name, "name")
        if not path.startswith("/") or "\x00" in path:
            raise InvalidInputError("path: must be an absolute path", field="path")

        def work(raw: Any) -> StoragePool:
            with contextlib.suppress(libvirt.libvirtError):
                raw.storagePoolLookupByName(name)
                raise ConflictError(f"a storage pool {name!r} already exists", field="name")
            pool = raw.storagePoolDefineXML(render_dir_pool(name, path).decode(), 0)
            try:
                pool.build(0)  # mkdir: an existing directory is kept as it is
                pool.create(0)
                pool.setAutostart(int(autostart))
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    pool.undefine()
                raise
            return pool_model(pool)

        return self.call(work)

    def delete_storage_pool(self, name: str, *, delete_volumes: bool = False) -> list[str]:
        """Stop and undefine a pool and remove its (then empty) directory.

        A pool with volumes is refused (:class:`ConflictError`, ``field="delete_volumes"``)
        unless ``delete_volumes``; returns the names of the volumes deleted.
        """

        def work(raw: Any) -> list[str]:
            pool = _lookup_pool(raw, name)
            deleted: list[str] = []
            if pool.isActive():
                pool.refresh(0)
                volumes = pool.listAllVolumes(0)
                if volumes and not delete_volumes:
                    raise ConflictError(
                        f"storage pool {name!r} has {len(volumes)} volume(s)",
                        field="delete_volumes",
                    )
                for volume in volumes:
                    deleted.append(volume.name())
                    volume.delete(0)
                pool.destroy()
            if pool.isPersistent():
                with contextlib.suppress(libvirt.libvirtError):
                    pool.delete(0)  # rmdir (of an inactive pool); some drivers cannot
                pool.undefine()
            return deleted

        return self.call(work)

    # -- volumes --------------------------------------------------------------------------

    def create_volume(
        self, pool_name: str, name: str, size_bytes: int, *, format: VolumeFormat | str = "qcow2"
    ) -> StorageVolume:
        """Create a volume (sparse: nothing allocated up front); return it.

        :class:`ConflictError` for a name in use or a size beyond the pool's free space.
        """
        from virtumancer._xml.storage import parse_storage_volume

        check_name(name, "name")
        volume_format = _format(format)
        _check_size(size_bytes)

        def work(raw: Any) -> StorageVolume:
            pool = _pool(raw, pool_name, "pool")
            _check_volume_free(pool, name, "name")
            with contextlib.suppress(libvirt.libvirtError):
                pool.refresh(0)
            available = int(pool.info()[3])
            if size_bytes > available:
                raise ConflictError(
                    f"size_bytes: {size_bytes} bytes do not fit in pool {pool_name!r} "
                    f"({available} bytes free)",
                    field="size_bytes",
                )
            xml = render_volume(name, size_bytes, format=volume_format.value)
            volume = pool.createXML(xml.decode(), 0)
            return parse_storage_volume(volume.XMLDesc(0), pool_name=pool_name)

        return self.call(work)

    def copy_volume(
        self,
        pool_name: str,
        name: str,
        new_name: str,
        *,
        target_pool: str | None = None,
        progress: CopyProgress | None = None,
    ) -> StorageVolume:
        """Copy a volume as ``new_name`` (in ``target_pool``, default its own pool); return it.

        The host copies (``createXMLFrom``: same format, holes kept); ``progress`` is told
        the bytes done of the source's allocation, from a poller thread, and the last call
        has ``done == total``. If ``progress`` raises (a cancelled task) the copy is removed
        and the exception propagates. :class:`ConflictError` (``field="name"``) for a name
        in use or a copy larger than the target pool's free space; :class:`NotFoundError`
        for an unknown pool or volume.
        """
        from virtumancer._xml.storage import parse_storage_volume

        check_name(new_name, "name")
        into_name = target_pool or pool_name

        def work(raw: Any) -> StorageVolume:
            source, into, capacity, allocation = _copy_plan(
                raw, pool_name, name, new_name, into_name
            )
            volume_format = parse_storage_volume(source.XMLDesc(0)).format or "raw"
            xml = render_volume(new_name, int(capacity), format=volume_format).decode()
            made = copy_into_pool(
                raw,
                source,
                into,
                xml,
                progress or (lambda _done, _total: None),
                total=max(int(allocation), 1),
            )
            return parse_storage_volume(made.XMLDesc(0), pool_name=into_name)

        return self.call(work)

    def check_volume_copy(
        self, pool_name: str, name: str, new_name: str, *, target_pool: str | None = None
    ) -> None:
        """Raise what :meth:`copy_volume` would refuse before copying; copy nothing."""
        check_name(new_name, "name")
        into_name = target_pool or pool_name
        self.call(lambda raw: _copy_plan(raw, pool_name, name, new_name, into_name))

    def get_volume(self, pool_name: str, name: str) -> StorageVolume:
        """Return one volume of a pool (:class:`NotFoundError` for no such pool or volume)."""
        from virtumancer._xml.storage import parse_storage_volume

        return self.call(
            lambda raw: parse_storage_volume(
                _lookup_volume(raw, pool_name, name).XMLDesc(0), pool_name=pool_name
            )
        )

    def resize_volume(self, pool_name: str, name: str, size_bytes: int) -> StorageVolume:
        """Grow a volume to ``size_bytes``; shrinking is refused (it would cut data off)."""
        from virtumancer._xml.storage import parse_storage_volume

        _check_size(size_bytes)

        def work(raw: Any) -> StorageVolume:
            volume = _lookup_volume(raw, pool_name, name)
            capacity = int(volume.info()[1])
            if size_bytes < capacity:
                raise ConflictError(
                    f"size_bytes: {size_bytes} is smaller than the volume ({capacity} bytes);"
                    " shrinking would cut data off",
                    field="size_bytes",
                )
            if size_bytes > capacity:
                volume.resize(size_bytes, 0)
            return parse_storage_volume(volume.XMLDesc(0), pool_name=pool_name)

        return self.call(work)

    def delete_volume(self, pool_name: str, name: str) -> None:
        """Delete a volume; :class:`ConflictError` (``field="name"``) while a VM uses it."""

        def work(raw: Any) -> None:
            volume = _lookup_volume(raw, pool_name, name)
            path = volume.path()
            for dom in raw.listAllDomains(0):
                flags = _SECURE_INACTIVE if dom.isPersistent() else libvirt.VIR_DOMAIN_XML_SECURE
                root = parse_xml(dom.XMLDesc(flags))
                for source in root.iterfind("devices/disk/source"):
                    if path in (source.get("file"), source.get("dev")):
                        raise ConflictError(
                            f"volume {name!r} is a disk of VM {dom.name()!r}",
                            field="name",
                            vm_name=dom.name(),
                        )
            volume.delete(0)

        return self.call(work)

    # -- networks -------------------------------------------------------------------------

    def define_network(self, spec: NatNetworkSpec, *, replace: bool = False) -> Network:
        """Define (not start) a NAT network with a DHCP range; return it.

        :class:`ConflictError` (``field="name"``) for a name in use, unless ``replace``: then
        an existing network's definition is replaced (same UUID; a running network shows
        the change from its next start). Bad addresses are :class:`InvalidInputError`
        naming the field.
        """
        from virtumancer._xml.network import render_nat_network

        root = parse_xml(render_nat_network(spec))

        def work(raw: Any) -> Network:
            existing = None
            with contextlib.suppress(libvirt.libvirtError):
                existing = raw.networkLookupByName(spec.name)
            if existing is not None and not replace:
                raise ConflictError(f"a network {spec.name!r} already exists", field="name")
            if existing is not None:
                # Same name without the same UUID is refused by libvirt as another network.
                etree.SubElement(root, "uuid").text = existing.UUIDString()
            network = raw.networkDefineXML(etree.tostring(root).decode())
            if spec.autostart or existing is not None:
                network.setAutostart(int(spec.autostart))
            return network_model(network)

        return self.call(work)

    def get_network(self, name: str) -> Network:
        """Return one network (:class:`NotFoundError`, ``field="network"``, if missing)."""
        return self.call(lambda raw: network_model(_lookup_network(raw, name)))

    def network_xml(self, name: str, *, inactive: bool = False) -> str:
        """Return a network's XML (``inactive``: its definition, as the next start uses it)."""

        def work(raw: Any) -> str:
            network = _lookup_network(raw, name)
            if inactive:
                try:
                    return str(network.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
                except libvirt.libvirtError as exc:
                    # libvirt's test driver has no such flag: its live XML is the closest.
                    if _error_code(exc) != libvirt.VIR_ERR_INVALID_ARG:
                        raise
            return str(network.XMLDesc(0))

        return self.call(work)

    def start_network(self, name: str) -> Network:
        """Start a network (needs dnsmasq on the host for DHCP); 409 if it runs."""

        return self._set_network_active(name, active=True)

    def stop_network(self, name: str) -> Network:
        """Stop a network (its VMs lose their link until it starts again); 409 if stopped."""
        return self._set_network_active(name, active=False)

    def _set_network_active(self, name: str, *, active: bool) -> Network:
        def work(raw: Any) -> Network:
            network = _lookup_network(raw, name)
            if bool(network.isActive()) == active:
                state = "already active" if active else "not active"
                raise ConflictError(f"network {name!r} is {state}", field="name")
            if active:
                network.create()
            else:
                network.destroy()
            return network_model(network)

        return self.call(work)

    def delete_network(self, name: str) -> None:
        """Stop (if active) and undefine a network."""

        def work(raw: Any) -> None:
            network = _lookup_network(raw, name)
            if network.isActive():
                network.destroy()
            if network.isPersistent():
                network.undefine()

        return self.call(work)


def _copy_plan(
    raw: Any, pool_name: str, name: str, new_name: str, into_name: str
) -> tuple[Any, Any, int, int]:
    """Check a copy: (source volume, target pool, capacity, allocation) or the refusal."""
    source = _lookup_volume(raw, pool_name, name)
    into = _pool(raw, into_name, "target_pool")
    _check_volume_free(into, new_name, "name")
    _, capacity, allocation = source.info()
    with contextlib.suppress(libvirt.libvirtError):
        into.refresh(0)
    available = int(into.info()[3])
    if allocation > available:
        raise ConflictError(
            f"the copy needs {allocation} bytes; pool {into_name!r} has {available}",
            field="name",
        )
    return source, into, int(capacity), int(allocation)


def _format(value: VolumeFormat | str) -> VolumeFormat:
    from virtumancer.models.spec import VolumeFormat

    try:
        return VolumeFormat(value)
    except ValueError:
        choices = ", ".join(member.value for member in VolumeFormat)
        raise InvalidInputError(f"format: one of {choices}", field="format") from None


def _check_size(size_bytes: int) -> None:
    if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 1024 * 1024:
        raise InvalidInputError("size_bytes: an integer of at least 1 MiB", field="size_bytes")


def _lookup_or_not_found(
    lookup: Callable[[str], Any], name: str, missing: int, message: str, field: str
) -> Any:
    """Return ``lookup(name)``; libvirt's error code ``missing`` becomes a NotFoundError."""
    try:
        return lookup(name)
    except libvirt.libvirtError as exc:
        if _error_code(exc) == missing:
            raise NotFoundError(message, field=field) from None
        raise


def _lookup_pool(raw: Any, name: str) -> Any:
    return _lookup_or_not_found(
        raw.storagePoolLookupByName,
        name,
        libvirt.VIR_ERR_NO_STORAGE_POOL,
        f"no storage pool {name!r}",
        "pool",
    )


def _lookup_volume(raw: Any, pool_name: str, name: str) -> Any:
    return _lookup_or_not_found(
        _lookup_pool(raw, pool_name).storageVolLookupByName,
        name,
        libvirt.VIR_ERR_NO_STORAGE_VOL,
        f"no volume {name!r} in pool {pool_name!r}",
        "volume",
    )


def _lookup_network(raw: Any, name: str) -> Any:
    return _lookup_or_not_found(
        raw.networkLookupByName,
        name,
        libvirt.VIR_ERR_NO_NETWORK,
        f"no network {name!r}",
        "network",
    )
