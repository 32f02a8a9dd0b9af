"""Inventory, import and dismiss against libvirt's test driver (many domains, pools, nets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.services.conftest import eventually
from virtumancer.db.schema import HostRow, VmRow
from virtumancer.exceptions import ConflictError, InvalidInputError, NotFoundError
from virtumancer.manager import Virtumancer
from virtumancer.models import DomainState
from virtumancer.models.events import ConnectionState, HostStateChanged
from virtumancer.models.notifications import HostsChanged, VmsChanged
from virtumancer.models.records import ActivityType

pytestmark = pytest.mark.anyio

NodeFactory = Callable[..., Path]


async def _vm_rows(manager: Virtumancer) -> int:
    return int(
        await manager.database.run(lambda s: s.scalar(select(func.count()).select_from(VmRow)))
    )


async def test_add_host_discovers_domains_pools_volumes_networks(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=40, pools=3, volumes_per_pool=4, networks=2)
    record = await manager.add_host("tdrv", f"test://{node}")
    assert (record.id, record.state, record.auto_reconnect_disabled) == (
        "tdrv",
        "CONNECTED",
        False,
    )
    discovered = await manager.list_discovered_vms("tdrv")
    assert len(discovered) == 40
    assert all(d.host_id == "tdrv" and not d.imported for d in discovered)
    assert await manager.list_vms("tdrv") == []
    pools = await manager.list_storage_pools("tdrv")
    assert len(pools) == 3
    assert all(p.capacity_bytes == 107374182400 for p in pools)
    volumes = await manager.list_storage_volumes("tdrv")
    assert len(volumes) == 12
    assert {v.storage_pool_id for v in volumes} == {p.id for p in pools}
    networks = await manager.list_networks()
    assert sorted(n.mode for n in networks) == ["isolated", "nat"]
    activity = await manager.recent_activity(5)
    assert ActivityType.HOST_ADDED in {a.type for a in activity}
    with pytest.raises(ConflictError):
        await manager.add_host("tdrv", f"test://{node}")


async def test_import_one_selected_all_and_never_twice(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=30)
    await manager.add_host("tdrv", f"test://{node}")
    discovered = {d.name: d for d in await manager.list_discovered_vms("tdrv")}
    names = sorted(discovered)

    await manager.import_vm("tdrv", names[0])
    vms = await manager.list_vms("tdrv")
    assert [vm.name for vm in vms] == [names[0]]
    assert vms[0].uuid == discovered[names[0]].domain_uuid
    assert vms[0].graphics.vnc

    selected = [discovered[name].domain_uuid for name in names[1:4]]
    await manager.import_selected_vms("tdrv", selected)
    assert len(await manager.list_vms("tdrv")) == 4
    assert names[1] not in {d.name for d in await manager.list_discovered_vms("tdrv")}

    await manager.import_all_vms("tdrv")
    await manager.import_all_vms("tdrv")
    await manager.import_vm("tdrv", names[0])
    await manager.import_selected_vms("tdrv", selected)
    vms = await manager.list_vms("tdrv")
    assert sorted(vm.name for vm in vms) == names
    assert await _vm_rows(manager) == 30
    assert await manager.list_discovered_vms("tdrv") == []
    assert len(await manager.list_disk_attachments()) == 30
    assert len(await manager.list_port_attachments("tdrv")) == 30
    assert len(await manager.list_video_attachments("tdrv", names[5])) == 1
    imported = [a for a in await manager.recent_activity(100) if a.type == "vm_imported"]
    assert len(imported) == 30
    await manager.settle()
    provenance = (await manager.pool.get("tdrv").get_domain(names[7])).metadata
    assert provenance is not None
    assert provenance.managed_by == "virtumancer"

    with pytest.raises(NotFoundError):
        await manager.import_vm("tdrv", "no-such-vm")
    with pytest.raises(NotFoundError):
        await manager.import_selected_vms("tdrv", ["00000000-0000-0000-0000-000000000000"])


async def test_dismissed_vms_stay_dismissed(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=6)
    await manager.add_host("tdrv", f"test://{node}")
    discovered = await manager.list_discovered_vms("tdrv")
    dismissed = [d.domain_uuid for d in discovered[:2]]
    await manager.dismiss_discovered_vms("tdrv", dismissed)
    await manager.sync_host("tdrv")
    remaining = {d.domain_uuid for d in await manager.list_discovered_vms("tdrv")}
    assert remaining == {d.domain_uuid for d in discovered[2:]}
    await manager.import_all_vms("tdrv")
    assert len(await manager.list_vms("tdrv")) == 4
    # Explicitly selecting a dismissed VM still imports it.
    await manager.import_selected_vms("tdrv", dismissed[:1])
    assert len(await manager.list_vms("tdrv")) == 5
    with pytest.raises(InvalidInputError):
        await manager.dismiss_discovered_vms("tdrv", "not-a-list")


async def test_reconciliation_with_nothing_changed_writes_nothing(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=25)
    await manager.add_host("tdrv", f"test://{node}")
    await manager.import_all_vms("tdrv")
    await manager.sync_host("tdrv")
    before = manager.database.rows_written
    await manager.sync_host("tdrv")
    await manager.sync_host("tdrv")
    assert manager.database.rows_written == before


async def test_power_actions_follow_into_database_and_activity(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=4, running=4)
    await manager.add_host("tdrv", f"test://{node}")
    await manager.import_all_vms("tdrv")
    name = (await manager.list_vms("tdrv"))[0].name
    await manager.vm_action("tdrv", name, "destroy")
    vm = next(v for v in await manager.list_vms("tdrv") if v.name == name)
    assert vm.state == DomainState.SHUTOFF
    await manager.vm_action("tdrv", name, "start")
    vm = next(v for v in await manager.list_vms("tdrv") if v.name == name)
    assert vm.state == DomainState.RUNNING
    types = [a.type for a in await manager.recent_activity(10) if a.vm_name == name]
    assert types[:2] == [ActivityType.VM_STARTED, ActivityType.VM_STOPPED]
    with pytest.raises(InvalidInputError) as info:
        await manager.vm_action("tdrv", name, "explode")
    assert info.value.field == "action"
    with pytest.raises(ConflictError):
        await manager.vm_action("tdrv", name, "start")
    stats = await manager.dashboard_stats()
    assert (stats.total_hosts, stats.connected_hosts, stats.total_vms, stats.active_vms) == (
        1,
        1,
        4,
        4,
    )


async def test_hardware_is_fresh(manager: Virtumancer, test_node_factory: NodeFactory) -> None:
    node = test_node_factory(domains=2)
    await manager.add_host("tdrv", f"test://{node}")
    name = (await manager.list_discovered_vms("tdrv"))[0].name
    hardware = await manager.vm_hardware("tdrv", name)
    assert [d.target_dev for d in hardware.disks] == ["vda"]
    assert hardware.interfaces[0].mac is not None


async def test_notifications_after_writes(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=3)
    async with manager.subscribe_notifications() as notifications:
        await manager.add_host("tdrv", f"test://{node}")
        await manager.import_all_vms("tdrv")
        seen: set[object] = set()
        async for notification in notifications:
            seen.add(notification)
            if len(seen) == 2:
                break
    assert seen == {HostsChanged(), VmsChanged(host_id="tdrv")}


async def test_hosts_restored_on_start_except_user_disconnected(
    database_url: str, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=3)
    async with Virtumancer(database_url) as vm:
        await vm.add_host("keep", f"test://{node}")
        await vm.add_host("off", f"test://{node}")
        record = await vm.disconnect_host("off")
        assert (record.state, record.auto_reconnect_disabled) == ("DISCONNECTED", True)
        await vm.import_all_vms("keep")
    async with Virtumancer(database_url) as vm:
        await vm.wait_restored()  # saved hosts connect in the background
        hosts = {h.id: h for h in await vm.list_hosts()}
        assert hosts["keep"].state == "CONNECTED"
        assert (hosts["off"].state, hosts["off"].auto_reconnect_disabled) == (
            "DISCONNECTED",
            True,
        )
        assert len(await vm.list_vms("keep")) == 3
        record = await vm.connect_host("off")
        assert (record.state, record.auto_reconnect_disabled) == ("CONNECTED", False)
        await vm.remove_host("off")
        assert [h.id for h in await vm.list_hosts()] == ["keep"]
        types = [a.type for a in await vm.recent_activity(20)]
        assert ActivityType.HOST_REMOVED in types
        assert ActivityType.HOST_DISCONNECTED in types


async def test_settings_persist_merge_and_runtime(database_url: str) -> None:
    async with Virtumancer(database_url, stats_interval=1.5) as vm:
        merged = await vm.update_metrics_settings({"cpu_smoothing_window": 15})
        assert merged.cpu_smoothing_window == 15
        with pytest.raises(InvalidInputError) as info:
            await vm.update_metrics_settings({"memory_display_unit": "XB"})
        assert info.value.field == "memory_display_unit"
        with pytest.raises(InvalidInputError) as info:
            await vm.update_metrics_settings({"bogus": 1})
        assert info.value.field == "bogus"
        runtime = await vm.runtime_metrics_settings()
        assert (runtime.cpu_smoothing_window, runtime.stats_interval_seconds) == (15, 1.5)
    async with Virtumancer(database_url) as vm:
        stored = await vm.get_metrics_settings()
        assert (stored.cpu_smoothing_window, stored.memory_display_unit) == (15, "GB")


async def test_event_path_rereads_only_the_changed_domain(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=20, running=20)
    await manager.add_host("tdrv", f"test://{node}")
    await manager.import_all_vms("tdrv")
    name = (await manager.list_vms("tdrv"))[3].name
    inventory = manager.inventory
    read_before, passes_before = inventory.domains_read, inventory.full_passes
    # Behind Virtumancer's back: straight through the libvirt connection.
    await manager.pool.get("tdrv").run(lambda conn: conn.lookupByName(name).suspend())

    async def suspended() -> bool:
        vm = next(v for v in await manager.list_vms("tdrv") if v.name == name)
        return vm.state == DomainState.PAUSED

    await eventually(suspended, what="suspend written by the event path")
    assert inventory.full_passes == passes_before
    assert inventory.domains_read - read_before == 1
    types = [a.type for a in await manager.recent_activity(3)]
    assert ActivityType.VM_SUSPENDED in types


async def test_host_state_events_are_recorded(
    manager: Virtumancer, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=1)
    await manager.add_host("tdrv", f"test://{node}")
    await manager.inventory.handle_events(
        [
            HostStateChanged(host_id="tdrv", state=ConnectionState.CONNECTED),
            HostStateChanged(host_id="tdrv", state=ConnectionState.ERROR, error="end of file"),
        ]
    )
    latest = (await manager.recent_activity(1))[0]
    assert (latest.type, latest.host_id) == (ActivityType.HOST_LOST, "tdrv")
    assert "end of file" in latest.message
    stored = await manager.database.run(lambda s: s.get(HostRow, "tdrv"))
    assert (stored.state, stored.last_error) == ("ERROR", "end of file")
