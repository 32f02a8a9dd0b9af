"""Blocking clone of a VM: a new name, UUID and MACs; its disks as overlays or full copies.

A mixin of :class:`~virtumancer._libvirt.connection.LibvirtConnection`, like
:mod:`.lifecycle`. The clone's definition is the source's own inactive XML edited in place
(name, UUID dropped so libvirt makes one, MACs, disk sources, serial log files, our
provenance), so everything we do not model is cloned too.

Full copies are made by the host itself (``virStorageVolCreateXMLFrom``: for a file pool
that is ``qemu-img convert``, or a sparse read/write loop for raw files), so no byte travels
through this process and a remote host copies at its disk's speed. The call reports no
progress and cannot be interrupted, so a poller thread with a libvirt connection of its own
(docs/adr/0012: one call per connection at a time) reads the new volume's allocation every
:data:`POLL_INTERVAL_S` and hands it to ``progress``; a ``progress`` that raises (cancelled,
host lost) makes the copy's volume be removed as soon as the call returns. A driver without
``createXMLFrom`` gets the older stream copy (``vol.download`` into ``vol.upload``, sparse,
read and write overlapped), which stops between two chunks.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Final

import libvirt
from lxml import etree

from virtumancer._libvirt._operations import ConnectionOperations
from virtumancer._libvirt.lifecycle import (
    _SECURE_INACTIVE,
    _check_name_free,
    _check_volume_free,
    _error_code,
    _read,
    _undo,
    provenance,
    seed_volume_name,
)
from virtumancer._xml._parser import parse_xml
from virtumancer._xml.lifecycle import render_volume, with_metadata
from virtumancer.exceptions import ConflictError
from virtumancer.models._names import check_name, generate_mac
from virtumancer.models.domain import Domain

__all__ = [
    "POLL_INTERVAL_S",
    "CloneOperations",
    "CopyProgress",
    "copy_into_pool",
    "copy_volume",
    "make_polled",
]


#: Called with (bytes done, bytes total) from a worker or poller thread; raising stops the copy.
CopyProgress = Callable[[int, int], None]

_CHUNK: Final = 1 << 20
_QUEUE_CHUNKS: Final = 16
#: How often a host-side copy's progress is read (through the poller's own connection).
POLL_INTERVAL_S: Final = 0.2
#: How long the end of a copy waits for a poller still inside an RPC (a stalled transport:
#: its connection's keepalive ends that RPC; the daemon thread then closes it).
_POLLER_JOIN_S: Final = 30.0


class CloneOperations(ConnectionOperations):
    """Clone a VM (mixed into ``LibvirtConnection``)."""

    def clone_vm(
        self,
        source: str,
        name: str,
        *,
        full_copy: bool = False,
        progress: CopyProgress | None = None,
    ) -> Domain:
        """Clone the shut-off VM ``source`` as ``name``; return the clone (defined, stopped).

        Each writable disk in a pool becomes a new volume in the same pool: a qcow2 overlay
        whose backing file is the source's disk (instant; the source must not be written
        while the clone uses it) or, with ``full_copy``, a copy of it (``progress`` is
        told the bytes done). Read-only and shareable disks (an ISO, the cloud-init seed)
        are shared. File serial consoles get a log file of the clone's own.
        :class:`ConflictError` for a running source (``field="source"``), a name in use
        (``field="name"``), or a writable disk in no pool. A failure (or a ``progress``
        that raised) removes what was made.
        """
        check_name(name, "name")

        def work(raw: Any) -> Domain:
            dom = self._lookup(source)
            source_name = dom.name()
            if dom.isActive():
                raise ConflictError(
                    f"VM {source_name!r} is running: shut it down to clone it",
                    field="source",
                    host_id=self.host_id,
                    vm_name=source_name,
                )
            _check_name_free(raw, name)
            root = parse_xml(dom.XMLDesc(_SECURE_INACTIVE))
            root.find("name").text = name  # type: ignore[union-attr]
            for uuid in root.findall("uuid"):
                root.remove(uuid)
            _new_macs(root)
            _own_logs(root, source_name, name)
            for nvram in root.iterfind("os/nvram"):
                nvram.text = None  # libvirt makes the clone's own from the template
            plans = _plan_disks(raw, root, source_name, name, self.host_id)
            total = sum(plan.size for plan in plans) if full_copy else 0
            made: list[Any] = []
            new_dom: Any = None
            try:
                done = 0
                for plan in plans:
                    if full_copy:
                        offset = done

                        def step(copied: int, _size: int, base: int = offset) -> None:
                            if progress is not None:
                                progress(base + copied, total)

                        target = copy_into_pool(
                            raw,
                            plan.volume,
                            plan.pool,
                            render_volume(plan.name, plan.capacity, format=plan.format).decode(),
                            step,
                            total=plan.size,
                        )
                        made.append(target)
                        done += plan.size
                    else:
                        target = plan.pool.createXML(
                            render_volume(
                                plan.name,
                                plan.capacity,
                                format="qcow2",
                                backing_path=plan.path,
                                backing_format=plan.format,
                            ).decode(),
                            0,
                        )
                        made.append(target)
                    _set_source(plan.element, target.path(), "qcow2" if not full_copy else None)
                document = with_metadata(etree.tostring(root), provenance())
                new_dom = raw.defineXML(document.decode())
                return _read(new_dom)
            except BaseException:
                _undo(new_dom, made)
                raise

        return self.call(work, vm_name=source)


class _DiskPlan:
    """One disk of the source to clone: its element, volume, and the new volume's name."""

    def __init__(
        self, element: Any, volume: Any, pool: Any, name: str, path: str, format: str
    ) -> None:
        self.element = element
        self.volume = volume
        self.pool = pool
        self.name = name
        self.path = path
        self.format = format
        info = volume.info()
        self.capacity = int(info[1])
        # What a copy writes: the data allocated (holes stay holes in the copy).
        self.size = max(int(info[2]), 1)


def _plan_disks(raw: Any, root: Any, source: str, name: str, host_id: str) -> list[_DiskPlan]:
    # Imported on use, like every parser a plain domain listing does not need.
    from virtumancer._xml.storage import parse_storage_volume

    plans: list[_DiskPlan] = []
    taken: set[tuple[str, str]] = set()
    for element in root.iterfind("devices/disk"):
        src = element.find("source")
        path = None if src is None else (src.get("file") or src.get("dev"))
        shared = (
            element.find("readonly") is not None
            or element.find("shareable") is not None
            or element.get("device") != "disk"
        )
        if path is None or shared or path.rpartition("/")[2] == seed_volume_name(source):
            continue
        target = element.find("target")
        dev = target.get("dev") if target is not None else "disk"
        try:
            volume = raw.storageVolLookupByPath(path)
        except libvirt.libvirtError as exc:
            if _error_code(exc) != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
            raise ConflictError(
                f"disk {dev} ({path}) is in no storage pool: it cannot be cloned",
                field="source",
                host_id=host_id,
                vm_name=source,
            ) from None
        pool = volume.storagePoolLookupByVolume()
        old = volume.name()
        new = old.replace(source, name) if source in old else f"{name}-{dev}.qcow2"
        if (pool.name(), new) in taken:
            new = f"{name}-{dev}-{old}"
        taken.add((pool.name(), new))
        _check_volume_free(pool, new, "name")
        volume_format = parse_storage_volume(volume.XMLDesc(0)).format or "raw"
        plans.append(_DiskPlan(element, volume, pool, new, path, volume_format))
    return plans


def _set_source(element: Any, path: str, driver_type: str | None) -> None:
    element.set("type", "file")
    src = element.find("source")
    for key in list(src.attrib):
        del src.attrib[key]
    src.set("file", path)
    for backing in element.findall("backingStore"):
        element.remove(backing)  # libvirt reads the new volume's chain itself
    driver = element.find("driver")
    if driver_type is not None and driver is not None:
        driver.set("type", driver_type)


def _new_macs(root: Any) -> None:
    macs = root.findall("devices/interface/mac")
    taken = {(mac.get("address") or "").lower() for mac in macs}
    import random  # not on a listing's import path

    rng = random.SystemRandom()
    for mac in macs:
        mac.set("address", generate_mac(rng, taken=taken))
        taken.add(mac.get("address"))


def _own_logs(root: Any, source: str, name: str) -> None:
    """Give file serial consoles (and their ``<log>``s) a file named after the clone."""
    for element in root.iterfind("devices/*"):
        if element.tag not in ("serial", "console"):
            continue
        for node in [element.find("source"), element.find("log")]:
            attribute = "path" if node is not None and node.tag == "source" else "file"
            path = None if node is None else node.get(attribute)
            if node is None or path is None:
                continue
            directory, _, base = path.rpartition("/")
            base = base.replace(source, name) if source in base else f"{name}-{base}"
            node.set(attribute, f"{directory}/{base}")


def copy_volume(raw: Any, source: Any, target: Any, progress: CopyProgress) -> int:
    """Copy ``source`` into ``target`` through sparse streams; return the bytes covered.

    ``progress(done, total)`` is called after each chunk (from this thread); if it raises,
    both streams are aborted and the exception propagates.
    """
    try:
        total = int(source.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2])
    except libvirt.libvirtError:
        total = int(source.info()[2])
    down = raw.newStream(0)
    up = raw.newStream(0)
    source.download(down, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
    target.upload(up, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
    import queue  # not on a listing's import path

    chunks: queue.Queue[bytes | int | BaseException] = queue.Queue(_QUEUE_CHUNKS)
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                data = down.recvFlags(_CHUNK, libvirt.VIR_STREAM_RECV_STOP_AT_HOLE)
                if isinstance(data, int):  # -3: at a hole
                    chunks.put(int(down.recvHole(0)))
                    continue
                chunks.put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the writer, which raises it
            chunks.put(exc)

    reader = threading.Thread(target=read, name="virtumancer-copy-reader", daemon=True)
    reader.start()
    done = 0
    try:
        while True:
            item = chunks.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, int):
                up.sendHole(item, 0)
                done += item
            elif not item:
                break
            else:
                data = item
                while data:
                    data = data[up.send(data) :]
                done += len(item)
            progress(done, max(total, done))
        reader.join()
        down.finish()
        up.finish()
        return done
    except BaseException:
        stop.set()
        for stream in (down, up):
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
        while reader.is_alive():  # unblock a reader waiting for room in the queue
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
        raise


class _AllocationPoller:
    """A thread reading a volume's allocation through its own connection into ``progress``.

    It never touches the copying connection (docs/adr/0012). If its connection cannot be
    opened it still calls ``progress`` (with nothing done) so cancellation and checks are
    honoured. The first exception ``progress`` raises is kept in :attr:`error` and polling
    stops.
    """

    def __init__(
        self, uri: str, pool_name: str, name: str, total: int, progress: CopyProgress
    ) -> None:
        self.uri, self.pool_name, self.name = uri, pool_name, name
        self.total, self.progress = total, progress
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="virtumancer-copy-poll", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> BaseException | None:
        """Stop polling; return the exception ``progress`` raised, if any."""
        self._stop.set()
        self._thread.join(_POLLER_JOIN_S)
        return self.error

    def _allocation(self, conn: Any) -> int:
        if conn is None:
            return 0
        try:
            pool = conn.storagePoolLookupByName(self.pool_name)
            return int(pool.storageVolLookupByName(self.name).info()[2])
        except libvirt.libvirtError:
            return 0  # not made yet (or gone): nothing to show

    def _run(self) -> None:
        conn: Any = None
        if self._stop.wait(POLL_INTERVAL_S):
            return  # a quick copy: no connection opened at all
        try:
            with contextlib.suppress(libvirt.libvirtError):
                conn = libvirt.open(self.uri)
                with contextlib.suppress(libvirt.libvirtError):
                    conn.setKeepAlive(5, 3)  # a stalled host ends this thread's RPC too
            while True:
                # Never report it complete: the copy is done when the call returns.
                done = min(self._allocation(conn), self.total - 1)
                try:
                    self.progress(max(done, 0), self.total)
                except BaseException as exc:
                    self.error = exc
                    return
                if self._stop.wait(POLL_INTERVAL_S):
                    return
        finally:
            if conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()


def copy_into_pool(
    raw: Any, source: Any, pool: Any, xml: str, progress: CopyProgress, *, total: int
) -> Any:
    """Make the volume ``xml`` in ``pool`` as a copy of ``source``; return it.

    The host copies (``createXMLFrom``); ``progress(done, total)`` is called from a poller
    thread while it runs and once at the end. If ``progress`` raises, the copy is removed
    (when the host's call returns: it cannot be interrupted) and the exception propagates.
    A driver without ``createXMLFrom`` gets a stream copy instead.
    """
    try:
        return make_polled(
            raw, pool, xml, lambda: pool.createXMLFrom(xml, source, 0), progress, total
        )
    except libvirt.libvirtError as exc:
        if _error_code(exc) != libvirt.VIR_ERR_NO_SUPPORT:
            raise
    return _stream_copy_into(raw, source, pool, xml, progress)


def make_polled(
    raw: Any, pool: Any, xml: str, make: Callable[[], Any], progress: CopyProgress, total: int
) -> Any:
    """Run ``make()`` (a host call making the volume ``xml`` in ``pool``); return its volume.

    While it runs, the new volume's allocation is polled into ``progress(done, total)`` (a
    thread with a connection of its own); once more at the end with ``done == total``. If
    ``progress`` raised meanwhile, or raises at the end, the volume is deleted and the
    exception propagates.
    """
    name = parse_xml(xml.encode()).findtext("name") or ""
    poller = _AllocationPoller(raw.getURI(), pool.name(), name, total, progress)
    poller.start()
    try:
        target = make()
    except BaseException:
        poller.stop()
        raise
    try:
        error = poller.stop()
        if error is not None:
            raise error
        progress(total, total)
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            target.delete(0)
        raise
    return target


def _stream_copy_into(raw: Any, source: Any, pool: Any, xml: str, progress: CopyProgress) -> Any:
    target = pool.createXML(xml, 0)
    try:
        copy_volume(raw, source, target, progress)
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            target.delete(0)
        raise
    return target
