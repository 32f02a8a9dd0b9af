"""Import a host's discovered VMs into the inventory from a one-shot process (the CLI).

What ``POST /hosts/{id}/vms/import-all`` (or ``import-selected``) does, without a server: it
opens the database and one connection to one host -- not the pool of every saved host, no
reconciliation loop, no fleet membership -- syncs that host, imports, writes the provenance
and closes. The host is found in the database by id or by URI, and added (as ``POST /hosts``
adds one) when it is not there yet.

Bad input is refused before anything is written: an unknown VM name leaves the database as
it was, even for a host that would have been added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
import attrs

from virtumancer._version import __version__
from virtumancer.db import hosts as db_hosts
from virtumancer.db import queries as db_queries
from virtumancer.db.database import Database
from virtumancer.exceptions import ConflictError, InvalidInputError, NotFoundError
from virtumancer.models.records import HostRecord, VmRecord
from virtumancer.pool import ConnectionPool, HostPool
from virtumancer.services.hosts import HostService
from virtumancer.services.inventory import InventoryService
from virtumancer.services.notifications import NotificationHub
from virtumancer.uri import UriPolicy, redact_uri, split_libvirt_uri

__all__ = ["IMPORT_CHUNK", "ImportResult", "default_host_id", "import_vms"]

#: Domains imported per step of the progress report (each step is one transaction).
IMPORT_CHUNK = 25

#: ``progress(done, total)``: called before the first step and after each.
ImportProgress = Callable[[int, int], None]


@attrs.frozen(kw_only=True)
class ImportResult:
    """What :func:`import_vms` did: the host, whether it was added, the VMs imported.

    ``imported`` holds the newly imported VMs as ``GET /hosts/{id}/vms`` lists them (a VM
    that was already managed is not in it).
    """

    host: HostRecord
    host_added: bool
    imported: list[VmRecord]


def default_host_id(uri: str) -> str:
    """Return the id a new host gets by default: the URI's host name, else ``localhost``."""
    return split_libvirt_uri(uri).host or "localhost"


def _find_host(hosts: Sequence[HostRecord], uri: str, host_id: str | None) -> HostRecord | None:
    if host_id is None:
        return next((record for record in hosts if record.uri == uri), None)
    found = next((record for record in hosts if record.id == host_id), None)
    if found is not None and found.uri != uri:
        raise ConflictError(
            f"the host is saved with another URI ({redact_uri(found.uri)}); pick another host id",
            host_id=host_id,
        )
    return found


async def _resolve(host: HostPool, names: Sequence[str], host_id: str) -> list[str]:
    """Return the UUIDs of the domains ``names`` (names or UUIDs) name, each once, in order.

    One lookup per name, not a listing of the host: the first sync lists it anyway.
    """
    found: list[str] = []
    unknown: list[str] = []
    for name in names:
        try:
            found.append((await host.get_domain(name)).uuid)
        except NotFoundError:
            unknown.append(name)
    if unknown:
        raise NotFoundError(f"no VM {', '.join(map(repr, unknown))} on the host", host_id=host_id)
    return list(dict.fromkeys(found))


async def import_vms(
    uri: str,
    *,
    database_url: str | None = None,
    host_id: str | None = None,
    names: Sequence[str] = (),
    uri_policy: UriPolicy | None = None,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Import the discovered VMs of the host at ``uri`` (``names``: only these) into the database.

    The host is the saved one with ``host_id`` (its URI must be ``uri``: else
    :class:`ConflictError`), else the saved one with this exact URI, else a new host with
    id ``host_id`` or :func:`default_host_id` (:class:`ConflictError` if that id is saved
    with another URI). Without ``names`` every discovered VM that is not dismissed is
    imported, as "import all" does; ``names`` (names or UUIDs) import those, dismissed or not,
    and one that is not a domain of the host is :class:`NotFoundError` before anything is
    written. VMs already managed are left alone.
    """
    if host_id is not None and not host_id.strip():
        raise InvalidInputError("host id must be a non-empty string", field="host_id")
    database = Database(database_url)
    try:
        await database.migrate()
        pool = ConnectionPool(uri_policy=uri_policy, events=False)
        async with pool:
            return await _import(pool, database, uri, host_id, names, progress)
    finally:
        with anyio.CancelScope(shield=True):
            await database.aclose()


async def _import(
    pool: ConnectionPool,
    database: Database,
    uri: str,
    host_id: str | None,
    names: Sequence[str],
    progress: ImportProgress | None,
) -> ImportResult:
    pool.uri_policy.check(uri)
    known = await database.run(db_hosts.list_hosts)
    saved = _find_host(known, uri, host_id)
    new_id = host_id if host_id is not None else default_host_id(uri)
    if saved is None and any(row.id == new_id for row in known):
        raise ConflictError(
            "a host with this id is saved with another URI: pass another host id",
            host_id=new_id,
        )
    the_id = saved.id if saved is not None else new_id
    hub = NotificationHub()
    inventory = InventoryService(pool, database, hub, version=__version__)
    hosts = HostService(pool, database, hub, inventory)
    wanted: list[str] = []
    if saved is not None or names:
        host = await pool.add_host(the_id, uri, connect=True)
    if names:
        # Checked against the host before the database is written.
        wanted = await _resolve(host, names, the_id)
    if saved is None:
        if names:
            await pool.remove_host(the_id)  # HostService connects it again as it adds it
        # HostService stores the host (with its activity entry) and runs the first sync.
        record = await hosts.add_host(the_id, uri)
    else:
        await inventory.sync_host(the_id)
        record = hosts.live(saved)
    if names:
        managed = await database.run(db_queries.managed_uuids, the_id)
        todo = [uuid for uuid in wanted if uuid not in managed]
    else:
        discovered = await database.run(db_queries.list_discovered, the_id)
        todo = [vm.domain_uuid for vm in discovered]
    imported: set[str] = set()
    if progress is not None:
        progress(0, len(todo))
    for start in range(0, len(todo), IMPORT_CHUNK):
        chunk = todo[start : start + IMPORT_CHUNK]
        imported.update(await inventory.import_selected(the_id, chunk))
        if progress is not None:
            progress(min(start + IMPORT_CHUNK, len(todo)), len(todo))
    vms = [vm for vm in await database.run(db_queries.list_vms, the_id) if vm.uuid in imported]
    return ImportResult(host=record, host_added=saved is None, imported=vms)
