"""The VM page's lifecycle panels in the browser: clone, snapshots, attach and detach, delete.

``virtumancer serve --demo`` (libvirt's test driver) serves the page; headless Chromium is
driven over the DevTools protocol as a person would: typing into the panels' forms (drawn
from the request bodies' schemas in the served OpenAPI document), clicking their buttons and
accepting their confirmations. What the page shows is checked against the REST API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.console._chromium import DevToolsPage, chromium_process, devtools_page
from tests.server.conftest import ServerProcess
from tests.server.test_vm_lifecycle_browser import (
    _click,
    _settled,
    _shot_dir,
    _text,
    _type,
    _until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.libvirt]

MIB = 1024 * 1024
POOL = "demo-pool0"


def _make_vm(api: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    """Create a stopped VM with one new volume in ``POOL`` through the API."""
    spec = {
        "name": name,
        "memory_bytes": 128 * MIB,
        "disks": [{"kind": "new_volume", "pool": POOL, "size_bytes": 256 * MIB}],
        **extra,
    }
    made = api.post("/hosts/demo/vms", json=spec)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def _open_vm(page: DevToolsPage, server: ServerProcess, name: str) -> None:
    await page.call(
        "Page.navigate", url=f"{server.url}/#token={server.token}&next=/hosts/demo/vms/{name}"
    )
    await _until(page, "!!document.querySelector('#vm-disks tbody tr')")


async def _click_and_accept(page: DevToolsPage, selector: str) -> None:
    """Click ``selector``, then accept the confirmation (window.confirm) it opens.

    The click is queued in the page (a mouse event's reply would wait for the modal dialog
    to close), then the dialog is accepted as soon as it shows.
    """
    await _until(page, f"!!document.querySelector({json.dumps(selector)})")
    await page.evaluate(
        f"setTimeout(() => document.querySelector({json.dumps(selector)}).click(), 0)"
    )
    with anyio.fail_after(30):
        while True:
            try:
                await page.call("Page.handleJavaScriptDialog", accept=True)
                return
            except RuntimeError:  # no dialog showing yet
                await anyio.sleep(0.05)


def _names(selector: str, attribute: str) -> str:
    return (
        f"JSON.stringify([...document.querySelectorAll({json.dumps(selector)})]"
        f".map((e) => e.getAttribute({json.dumps(attribute)})))"
    )


async def test_clone_a_vm_from_its_panel_and_see_the_clone_listed(
    server: ServerProcess, tmp_path: Path
) -> None:
    with server.client() as api:
        source = _make_vm(api, "panel-src")
        with chromium_process(1280, 1100) as endpoint:
            async with devtools_page(endpoint) as page:
                await _open_vm(page, server, "panel-src")
                # The form is the CloneRequest schema's: a name and the full-copy choice.
                fields = json.loads(await page.evaluate(_names("#clone-form [name]", "name")))
                assert fields == ["name", "full_copy"]
                await _type(page, "#clone-form [name=name]", "panel-src-copy")
                (_shot_dir(tmp_path) / "vm-clone-form.png").write_bytes(await page.screenshot())
                await _click(page, "#clone-form button[type=submit]")
                # The clone runs as a task; once it succeeded the host page lists the clone.
                await _until(
                    page, "!!document.querySelector('tr[data-vm-key=\"demo/panel-src-copy\"]')"
                )
                assert location_hash(await page.evaluate("location.hash")) == "/hosts/demo"
                assert not [p for p in page.problems if p.startswith("exception")], page.problems
        vms = {vm["name"]: vm for vm in api.get("/hosts/demo/vms").json()}
        assert vms["panel-src-copy"]["memory_bytes"] == source["memory_bytes"]
        disks = api.get("/hosts/demo/vms/panel-src-copy/hardware").json()["disks"]
        original = api.get("/hosts/demo/vms/panel-src/hardware").json()["disks"]
        assert [d["path"] for d in disks] != [d["path"] for d in original]


def location_hash(value: str) -> str:
    return value.removeprefix("#")


async def test_take_list_revert_and_delete_a_snapshot_and_see_it_in_the_delete_plan(
    server: ServerProcess, tmp_path: Path
) -> None:
    shots = _shot_dir(tmp_path)
    with server.client() as api:
        _make_vm(api, "panel-snap", description="original")
        with chromium_process(1280, 1300) as endpoint:
            async with devtools_page(endpoint) as page:
                await _open_vm(page, server, "panel-snap")
                await _until(page, f"{_text('#snapshots')}.includes('No snapshots')")
                await _type(page, "#snapshot-form [name=name]", "s1")
                await _type(page, "#snapshot-form [name=description]", "before the change")
                await _click(page, "#snapshot-form button[type=submit]")
                await _until(page, "!!document.querySelector('tr[data-snapshot=\"s1\"]')")
                assert "before the change" in await page.evaluate(_text("#snapshot-list"))
                assert [
                    s["name"] for s in api.get("/hosts/demo/vms/panel-snap/snapshots").json()
                ] == ["s1"]

                # The delete confirmation shows the server's plan: the snapshot goes too.
                await _click(page, 'button[data-delete-vm="panel-snap"]')
                await _until(page, "!!document.querySelector('#delete-dialog[open]')")
                plan = api.get("/hosts/demo/vms/panel-snap/delete-plan").json()
                shown = json.loads(
                    await page.evaluate(
                        "JSON.stringify([...document.querySelectorAll('#delete-snapshots li')]"
                        ".map((li) => li.textContent))"
                    )
                )
                assert shown == plan["snapshots"] == ["s1"]
                await _click(page, "#delete-dialog input[name=delete_storage]")
                volumes = json.loads(
                    await page.evaluate(
                        "JSON.stringify([...document.querySelectorAll('#delete-volumes li')]"
                        ".map((li) => li.textContent))"
                    )
                )
                assert volumes == plan["volumes"]
                assert len(volumes) == 1
                shots.joinpath("vm-delete-plan.png").write_bytes(await page.screenshot())
                await _click(page, "#delete-dialog button[type=button]")
                await _until(page, "!document.querySelector('#delete-dialog')")

                changed = api.patch("/hosts/demo/vms/panel-snap", json={"description": "changed"})
                assert changed.status_code == 200, changed.text
                await _until(page, f"{_text('#vm-summary')}.endsWith(' · changed')")
                await _click_and_accept(page, '[data-snapshot-action="revert:s1"]')
                await _until(page, f"{_text('#vm-summary')}.endsWith(' · original')")
                # The record settles on the reverted description (the inventory's event path
                # may briefly re-write the older read first: wait for the final state).
                await _settled(api, "panel-snap", "original")

                await _click_and_accept(page, '[data-snapshot-action="delete:s1"]')
                await _until(page, "!document.querySelector('tr[data-snapshot]')")
                assert api.get("/hosts/demo/vms/panel-snap/snapshots").json() == []
                assert not [p for p in page.problems if p.startswith("exception")], page.problems


async def test_attach_and_detach_a_disk_and_a_nic_from_the_hardware_panel(
    server: ServerProcess, tmp_path: Path
) -> None:
    with server.client() as api:
        _make_vm(api, "panel-dev")
        with chromium_process(1280, 1400) as endpoint:
            async with devtools_page(endpoint) as page:
                await _open_vm(page, server, "panel-dev")
                # The disk kinds offered are the schema's discriminator values.
                kinds = json.loads(
                    await page.evaluate(
                        "JSON.stringify([...document.querySelector('#attach-disk-form "
                        "select[name=kind]').options].map((o) => o.value))"
                    )
                )
                document = api.get("/openapi.json").json()
                disk_union = document["components"]["schemas"]["DiskAttachment"]["properties"]
                assert kinds == list(disk_union["disk"]["discriminator"]["mapping"])
                await _type(page, "#attach-disk-form [name=pool]", POOL)
                await _type(page, "#attach-disk-form [name=size_bytes]", "0.0625")
                (_shot_dir(tmp_path) / "vm-attach-disk.png").write_bytes(await page.screenshot())
                await _click(page, "#attach-disk-form button[type=submit]")
                await _until(page, "!!document.querySelector('tr[data-disk=\"vdb\"]')")
                disks = api.get("/hosts/demo/vms/panel-dev/hardware").json()["disks"]
                (vdb,) = [d for d in disks if d["target"]["dev"] == "vdb"]
                assert vdb["path"].startswith(f"/var/lib/libvirt/{POOL}/")

                await _click_and_accept(page, '[data-detach="vdb"]')
                await _until(page, "!document.querySelector('tr[data-disk=\"vdb\"]')")
                disks = api.get("/hosts/demo/vms/panel-dev/hardware").json()["disks"]
                assert "vdb" not in [d["target"]["dev"] for d in disks]

                await _type(page, "#attach-nic-form [name=network]", "demo-net1")
                await _type(page, "#attach-nic-form [name=mac]", "52:54:00:12:34:56")
                await _click(page, "#attach-nic-form button[type=submit]")
                await _until(page, "!!document.querySelector('tr[data-nic=\"52:54:00:12:34:56\"]')")
                nics = api.get("/hosts/demo/vms/panel-dev/hardware").json()["networks"]
                assert "52:54:00:12:34:56" in [n["mac"]["address"] for n in nics]
                await _click_and_accept(page, '[data-detach="52:54:00:12:34:56"]')
                await _until(page, "!document.querySelector('tr[data-nic=\"52:54:00:12:34:56\"]')")
                nics = api.get("/hosts/demo/vms/panel-dev/hardware").json()["networks"]
                assert "52:54:00:12:34:56" not in [n["mac"]["address"] for n in nics]
                assert not [p for p in page.problems if p.startswith("exception")], page.problems
