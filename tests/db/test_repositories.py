"""The repositories on SQLite and on PostgreSQL: the same tests, the same results."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import threading

import attrs
import pytest
from sqlalchemy import func, select

from tests.db.conftest import ParsedNode
from virtumancer.db import Database
from virtumancer.db import activity as db_activity
from virtumancer.db import hosts as db_hosts
from virtumancer.db import queries as db_queries
from virtumancer.db import settings as db_settings
from virtumancer.db import sync_writes as db_sync
from virtumancer.db.schema import ActivityRow, DiscoveredVmRow, VmRow
from virtumancer.exceptions import ConflictError, InvalidInputError, NotFoundError
from virtumancer.models import DomainState, VirtumancerMetadata
from virtumancer.models.records import ActivityType
from virtumancer.models.settings import MetricsSettings
from virtumancer.rules import MANAGED_BY

HOST = "kvm1"


def _add_host(database: Database) -> None:
    database.run_sync(lambda s: db_hosts.insert_host(s, HOST, "test:///default", state="CONNECTED"))


def _sync(database: Database, node: ParsedNode) -> db_sync.SyncOutcome:
    return database.run_sync(lambda s: db_sync.apply_domains(s, HOST, node.domains, complete=True))


def test_hosts_round_trip_and_conflict(database: Database) -> None:
    _add_host(database)
    with pytest.raises(ConflictError):
        _add_host(database)
    record, changed = database.run_sync(
        lambda s: db_hosts.update_host(s, HOST, state="DISCONNECTED", auto_reconnect_disabled=True)
    )
    assert changed
    assert record.auto_reconnect_disabled
    _, changed_again = database.run_sync(
        lambda s: db_hosts.update_host(s, HOST, state="DISCONNECTED", auto_reconnect_disabled=True)
    )
    assert not changed_again
    hosts = database.run_sync(db_hosts.list_hosts)
    assert [(h.id, h.state, h.auto_reconnect_disabled) for h in hosts] == [
        (HOST, "DISCONNECTED", True)
    ]
    assert hosts[0].created_at.tzinfo is not None
    database.run_sync(lambda s: db_hosts.delete_host(s, HOST))
    with pytest.raises(NotFoundError):
        database.run_sync(lambda s: db_hosts.get_host(s, HOST))


def test_first_sync_discovers_everything_and_second_writes_nothing(
    database: Database, node: ParsedNode
) -> None:
    _add_host(database)
    first = _sync(database, node)
    assert first.discovered_changed
    discovered = database.run_sync(lambda s: db_queries.list_discovered(s, HOST))
    assert sorted(d.name for d in discovered) == sorted(d.name for d in node.domains)
    assert all(not d.imported for d in discovered)
    before = database.rows_written
    second = _sync(database, node)
    assert not second.changed
    assert database.rows_written == before


def test_import_selected_then_all_never_duplicates(database: Database, node: ParsedNode) -> None:
    _add_host(database)
    _sync(database, node)
    chosen = node.domains[:3]
    outcome = database.run_sync(lambda s: db_sync.import_domains(s, HOST, chosen))
    assert sorted(outcome.imported) == sorted(d.uuid for d in chosen)
    again = database.run_sync(lambda s: db_sync.import_domains(s, HOST, node.domains))
    assert len(again.imported) == len(node.domains) - 3
    third = database.run_sync(lambda s: db_sync.import_domains(s, HOST, node.domains))
    assert third.imported == []
    vms = database.run_sync(lambda s: db_queries.list_vms(s, HOST))
    assert len(vms) == len(node.domains)
    assert database.run_sync(lambda s: db_queries.list_discovered(s, HOST)) == []
    count = database.run_sync(lambda s: s.scalar(select(func.count()).select_from(VmRow)))
    assert count == len(node.domains)
    activity = database.run_sync(lambda s: db_activity.recent_activity(s, 100))
    assert sum(a.type == ActivityType.VM_IMPORTED for a in activity) == len(node.domains)


def test_imported_vm_has_exact_hardware(database: Database, node: ParsedNode) -> None:
    _add_host(database)
    database.run_sync(lambda s: db_sync.apply_storage(s, HOST, node.pools, node.volumes))
    domain = node.domains[3]
    database.run_sync(lambda s: db_sync.import_domains(s, HOST, [domain]))
    (vm,) = database.run_sync(lambda s: db_queries.list_vms(s, HOST))
    assert vm.name == domain.name
    assert vm.memory_bytes == domain.memory_bytes == 4 * 131072 * 1024
    assert vm.vcpu_count == 4
    assert vm.graphics.vnc
    assert not vm.graphics.spice
    disks = database.run_sync(db_queries.list_disk_attachments)
    assert [(d.vm_uuid, d.device_name, d.bus_type) for d in disks] == [
        (domain.uuid, "vda", "virtio")
    ]
    ports = database.run_sync(lambda s: db_queries.list_host_ports(s, HOST))
    assert [(p.vm_uuid, p.device_name, p.mac_address) for p in ports] == [
        (domain.uuid, "eth0", domain.devices.interfaces[0].mac)
    ]
    videos = database.run_sync(lambda s: db_queries.list_video_attachments(s, HOST, domain.name))
    assert [(v.monitor_index, v.primary) for v in videos] == [(0, True)]
    (model,) = database.run_sync(db_queries.list_video_models)
    assert (model.model_name, model.vram, model.heads) == ("qxl", 65536, 1)


def test_dismissed_stay_dismissed_while_the_domain_exists(
    database: Database, node: ParsedNode
) -> None:
    _add_host(database)
    _sync(database, node)
    gone = node.domains[0]
    dismissed = database.run_sync(lambda s: db_sync.dismiss_discovered(s, HOST, [gone.uuid]))
    assert dismissed == 1
    _sync(database, node)
    names = {d.name for d in database.run_sync(lambda s: db_queries.list_discovered(s, HOST))}
    assert gone.name not in names
    # The domain disappears, then a domain with the same UUID comes back: it is new again.
    _sync(database, attrs.evolve(node, domains=node.domains[1:]))
    _sync(database, node)
    names = {d.name for d in database.run_sync(lambda s: db_queries.list_discovered(s, HOST))}
    assert gone.name in names


def test_state_change_is_written_with_activity(database: Database, node: ParsedNode) -> None:
    _add_host(database)
    domain = node.domains[0]
    assert domain.state == DomainState.RUNNING
    database.run_sync(lambda s: db_sync.import_domains(s, HOST, [domain]))
    stopped = attrs.evolve(domain, state=DomainState.SHUTOFF)
    outcome = database.run_sync(lambda s: db_sync.apply_domains(s, HOST, [stopped], complete=False))
    assert outcome.vms_changed
    (vm,) = database.run_sync(lambda s: db_queries.list_vms(s, HOST))
    assert vm.state == DomainState.SHUTOFF
    assert vm.updated_at >= vm.created_at
    latest = database.run_sync(lambda s: db_activity.recent_activity(s, 1))[0]
    assert (latest.type, latest.vm_name) == (ActivityType.VM_STOPPED, domain.name)
    crashed = attrs.evolve(domain, state=DomainState.RUNNING)
    database.run_sync(lambda s: db_sync.apply_domains(s, HOST, [crashed], complete=False))
    database.run_sync(
        lambda s: db_sync.apply_domains(
            s, HOST, [stopped], complete=False, hints={domain.uuid: ActivityType.VM_CRASHED}
        )
    )
    types = [a.type for a in database.run_sync(lambda s: db_activity.recent_activity(s, 2))]
    assert types == [ActivityType.VM_CRASHED, ActivityType.VM_STARTED]


def test_an_event_write_of_one_vm_equals_what_a_full_pass_writes(
    database: Database, node: ParsedNode
) -> None:
    # The event path looks up only the ports and volumes of the domains it writes; the
    # result must be what a full pass of the whole host writes (which loads them all).
    _add_host(database)
    database.run_sync(lambda s: db_sync.import_domains(s, HOST, node.domains))
    domain = node.domains[0]
    first = domain.devices.interfaces[0]
    nics = (
        attrs.evolve(first, mac="52:54:00:AA:BB:01"),  # a new MAC, in capitals
        attrs.evolve(first, mac=None),  # a NIC without a MAC
    )
    changed = attrs.evolve(domain, devices=attrs.evolve(domain.devices, interfaces=nics))
    for _ in range(2):  # the second write finds the rows the first one added
        database.run_sync(lambda s: db_sync.apply_domains(s, HOST, [changed], complete=False))
    ports = database.run_sync(lambda s: db_queries.list_host_ports(s, HOST))
    assert "52:54:00:aa:bb:01" in {p.mac_address for p in ports if p.vm_uuid == domain.uuid}
    whole = attrs.evolve(node, domains=(changed, *node.domains[1:]))
    assert not _sync(database, whole).vms_changed
    assert database.run_sync(lambda s: db_queries.list_host_ports(s, HOST)) == ports


def test_missing_vm_is_marked_then_removed(database: Database, node: ParsedNode) -> None:
    _add_host(database)
    domain = node.domains[0]
    database.run_sync(lambda s: db_sync.import_domains(s, HOST, [domain]))
    rest = attrs.evolve(node, domains=node.domains[1:])
    _sync(database, rest)
    (vm,) = database.run_sync(lambda s: db_queries.list_vms(s, HOST))
    assert vm.gone_at is not None
    _sync(database, rest)
    assert database.run_sync(lambda s: db_queries.list_vms(s, HOST)) == []
    latest = database.run_sync(lambda s: db_activity.recent_activity(s, 1))[0]
    assert (latest.type, latest.vm_name) == (ActivityType.VM_REMOVED, domain.name)


def test_fresh_database_relearns_managed_vms_from_metadata(
    database: Database, node: ParsedNode
) -> None:
    _add_host(database)
    ours = VirtumancerMetadata(
        managed_by=MANAGED_BY, imported_at=dt.datetime.now(dt.UTC), version="0.1.0"
    )
    domains = (attrs.evolve(node.domains[0], metadata=ours), *node.domains[1:])
    _sync(database, attrs.evolve(node, domains=domains))
    names = [vm.name for vm in database.run_sync(lambda s: db_queries.list_vms(s, HOST))]
    assert names == [node.domains[0].name]
    discovered = database.run_sync(lambda s: db_queries.list_discovered(s, HOST))
    assert node.domains[0].name not in {d.name for d in discovered}


def test_storage_and_networks_sync_writes_only_changes(
    database: Database, node: ParsedNode
) -> None:
    _add_host(database)
    assert database.run_sync(lambda s: db_sync.apply_storage(s, HOST, node.pools, node.volumes))
    assert database.run_sync(lambda s: db_sync.apply_networks(s, HOST, node.networks))
    before = database.rows_written
    assert not database.run_sync(lambda s: db_sync.apply_storage(s, HOST, node.pools, node.volumes))
    assert not database.run_sync(lambda s: db_sync.apply_networks(s, HOST, node.networks))
    assert database.rows_written == before
    pools = database.run_sync(lambda s: db_queries.list_storage_pools(s, HOST))
    assert [(p.name, p.capacity_bytes) for p in pools] == [
        (p.name, 107374182400) for p in node.pools
    ]
    volumes = database.run_sync(lambda s: db_queries.list_storage_volumes(s, None))
    assert len(volumes) == 6
    assert max(v.capacity_bytes for v in volumes) == 3 * 1073741824
    networks = database.run_sync(lambda s: db_queries.list_networks(s, HOST))
    assert {n.mode for n in networks} == {"nat", "isolated"}
    stats = database.run_sync(db_queries.dashboard_stats)
    assert stats.total_storage_gb == round(2 * 107374182400 / 1e9)
    grown = attrs.evolve(node.volumes[0], capacity_bytes=2**40 + 1)
    changed = database.run_sync(
        lambda s: db_sync.apply_storage(s, HOST, node.pools, (grown, *node.volumes[1:]))
    )
    assert changed
    volumes = database.run_sync(lambda s: db_queries.list_storage_volumes(s, HOST))
    assert max(v.capacity_bytes for v in volumes) == 2**40 + 1


def test_settings_merge_and_validate(database: Database) -> None:
    assert database.run_sync(db_settings.get_metrics_settings) == MetricsSettings()
    updated = MetricsSettings().merged({"cpu_smoothing_window": 15, "memory_display_unit": "MB"})
    database.run_sync(lambda s: db_settings.save_metrics_settings(s, updated))
    stored = database.run_sync(db_settings.get_metrics_settings)
    assert (stored.cpu_smoothing_window, stored.memory_display_unit) == (15, "MB")
    assert stored.default_cpu_view == "percentage"
    with pytest.raises(InvalidInputError) as info:
        stored.merged({"cpu_smoothing_window": 0})
    assert info.value.field == "cpu_smoothing_window"


def test_removing_a_host_removes_its_inventory(database: Database, node: ParsedNode) -> None:
    _add_host(database)
    _sync(database, node)
    database.run_sync(lambda s: db_sync.import_domains(s, HOST, node.domains[:2]))
    database.run_sync(lambda s: db_hosts.delete_host(s, HOST))
    counts = database.run_sync(
        lambda s: (
            s.scalar(select(func.count()).select_from(VmRow)),
            s.scalar(select(func.count()).select_from(DiscoveredVmRow)),
        )
    )
    assert counts == (0, 0)


def _activity_rows(database: Database) -> list[tuple[int, dt.datetime]]:
    return database.run_sync(
        lambda s: [(r.id, r.timestamp) for r in s.scalars(select(ActivityRow))]
    )


def test_activity_is_newest_first_even_for_an_event_written_late(database: Database) -> None:
    # A host event handled 1.5 ms after an entry written meanwhile: it carries the older time.
    database.run_sync(lambda s: db_activity.add_activity(s, ActivityType.HOST_ADDED, "first"))
    (_, first_at) = _activity_rows(database)[0]
    late = (first_at - dt.timedelta(microseconds=1500)).replace(tzinfo=dt.UTC)
    database.run_sync(
        lambda s: db_activity.add_activity(s, ActivityType.HOST_CONNECTED, "second", timestamp=late)
    )
    feed = database.run_sync(lambda s: db_activity.recent_activity(s, 10))
    assert [a.message for a in feed] == ["second", "first"]
    assert feed[0].timestamp > feed[1].timestamp


def test_activity_timestamps_never_go_backwards_relative_to_ids(
    database: Database, node: ParsedNode
) -> None:
    _add_host(database)
    # A bulk import writes one entry per VM in one statement, all at the same instant.
    database.run_sync(lambda s: db_sync.import_domains(s, HOST, node.domains))
    past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    def write(worker: int) -> None:
        for index in range(10):
            database.run_sync(
                functools.partial(
                    db_activity.add_activity,
                    type=ActivityType.HOST_CONNECTED,
                    message=f"{worker}-{index}",
                    timestamp=past if index % 2 else None,
                )
            )

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = sorted(_activity_rows(database))
    assert len(rows) == len(node.domains) + 40
    stamps = [stamp for _, stamp in rows]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    feed = database.run_sync(lambda s: db_activity.recent_activity(s, 1000))
    assert [a.timestamp for a in feed] == sorted((a.timestamp for a in feed), reverse=True)
