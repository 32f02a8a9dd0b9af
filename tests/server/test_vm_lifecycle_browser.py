"""The VM lifecycle in the browser: create a VM from the form, see it run, delete it.

``virtumancer serve --demo`` (libvirt's test driver, with pools and networks) serves the page;
headless Chromium is driven over the DevTools protocol as a person would: typing into the
new-VM form, clicking its buttons and the delete confirmation's. What the page shows is checked
against the REST API. Screenshots of the form and of the confirmation are written to
``$VIRTUMANCER_SCREENSHOTS`` when set (for a report), else under the test's temporary directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.console._chromium import DevToolsPage, chromium_process, devtools_page
from tests.server.conftest import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.libvirt]

VM = "browser-vm"
GIB = 1024**3


async def _until(page: DevToolsPage, expression: str, *, within: float = 30.0) -> Any:
    """Return the first truthy value of ``expression`` in the page (a generous deadline)."""
    value = None
    with anyio.move_on_after(within):
        while not value:
            value = await page.evaluate(expression)
            if not value:
                await anyio.sleep(0.1)
    assert value, f"never true in the page: {expression}; problems: {page.problems}"
    return value


async def _click(page: DevToolsPage, selector: str) -> None:
    """Click the middle of the element ``selector`` with the mouse."""
    box = await _until(
        page,
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        " if (!e || e.disabled) return null; e.scrollIntoView({block: 'center'});"
        " const r = e.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()",
    )
    x, y = box
    for kind in ("mousePressed", "mouseReleased"):
        await page.call(
            "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
        )


async def _type(page: DevToolsPage, selector: str, text: str) -> None:
    """Replace the value of the input ``selector`` by typing ``text`` into it."""
    await _until(
        page,
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        " if (!e) return false; e.focus(); e.select(); return true; })()",
    )
    await page.call("Input.insertText", text=text)


async def _choose(page: DevToolsPage, selector: str, value: str) -> None:
    """Pick the option ``value`` of the select ``selector`` (as the keyboard would)."""
    ok = await page.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        f" if (![...e.options].some((o) => o.value === {json.dumps(value)})) return false;"
        f" e.value = {json.dumps(value)}; e.dispatchEvent(new Event('change')); return true; }})()"
    )
    assert ok, f"{selector} has no option {value}"


def _shot_dir(tmp_path: Path) -> Path:
    where = os.environ.get("VIRTUMANCER_SCREENSHOTS")
    path = Path(where) if where else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def _text(selector: str) -> str:
    return f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"


async def test_create_from_the_form_see_it_run_then_delete_it_with_its_storage(
    server: ServerProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shots = _shot_dir(tmp_path)
    api = server.client()
    request.addfinalizer(api.close)
    pools = {p["name"]: p for p in api.get("/hosts/demo/storage/pools").json()}
    assert "demo-pool0" in pools
    with chromium_process(1280, 1150) as endpoint:
        async with devtools_page(endpoint) as page:
            await page.call(
                "Page.navigate", url=f"{server.url}/#token={server.token}&next=/hosts/demo"
            )
            # The host page offers "New VM" (the contract has POST /hosts/{id}/vms).
            await _click(page, "#new-vm-link")
            await _until(page, "!!document.querySelector('#new-vm-form select[name=pool]')")
            # The form's choices are the host's: its running pools and its networks.
            choices = json.loads(
                await page.evaluate(
                    "JSON.stringify(['pool', 'network'].map((n) => [...document.querySelector("
                    "`#new-vm-form select[name=${n}]`).options].map((o) => o.value)))"
                )
            )
            assert choices[0] == [*sorted(pools), ""]
            assert choices[1] == ["demo-net0", "demo-net1", ""]

            # A name that exists: the server's 400/409 shows in the form, naming the field.
            await _type(page, "#new-vm-form [name=vm_name]", "web-01")
            await _click(page, "#new-vm-form button[type=submit]")
            error = await _until(page, _text("#new-vm-error"))
            assert error.startswith("name: ")
            assert "web-01" in error
            assert len(api.get("/hosts/demo/vms").json()) == 6

            await _type(page, "#new-vm-form [name=vm_name]", VM)
            await _type(page, "#new-vm-form [name=memory]", "256")
            await _type(page, "#new-vm-form [name=vcpus]", "2")
            await _choose(page, "#new-vm-form [name=pool]", "demo-pool0")
            await _type(page, "#new-vm-form [name=disk_size]", "1")
            await _type(page, "#new-vm-form [name=description]", "made in the browser")
            assert await page.evaluate(
                "document.querySelector('#new-vm-form [name=start]').checked"
            )
            (shots / "vm-new-form.png").write_bytes(await page.screenshot())
            await _click(page, "#new-vm-form button[type=submit]")

            # Back on the host page, the new VM is listed and shows as running.
            row = f'tr[data-vm-key="demo/{VM}"]'
            status = await _until(
                page, f"(document.querySelector('{row} .badge') || {{}}).dataset?.status"
            )
            await _until(
                page, f"document.querySelector('{row} .badge').dataset.status === 'active'"
            )
            assert status in {"active", "stopped"}  # listed at once; running once refreshed
            record = next(v for v in api.get("/hosts/demo/vms").json() if v["name"] == VM)
            assert (record["status"], record["vcpu_count"], record["memory_bytes"]) == (
                "active",
                2,
                256 * 1024 * 1024,
            )
            assert record["description"] == "made in the browser"
            disks = api.get(f"/hosts/demo/vms/{VM}/hardware").json()["disks"]
            paths = [d["path"] for d in disks]
            assert len(paths) == 1
            assert paths[0].startswith(pools["demo-pool0"]["path"] + "/")

            # Delete it: the confirmation names the VM and, with storage, its volume.
            await _click(page, f'{row} button[data-delete-vm="{VM}"]')
            await _until(page, "!!document.querySelector('#delete-dialog[open]')")
            assert await page.evaluate(_text("#delete-vm-name")) == VM
            assert await page.evaluate(_text("#delete-confirm")) == f"Delete {VM}"
            # Running: the confirm button waits for "force it off first".
            assert await page.evaluate("document.querySelector('#delete-confirm').disabled")
            await _click(page, "#delete-dialog input[name=force]")
            await _click(page, "#delete-dialog input[name=delete_storage]")
            listed = json.loads(
                await page.evaluate(
                    "JSON.stringify([...document.querySelectorAll('#delete-volumes li')]"
                    ".map((li) => li.textContent))"
                )
            )
            assert listed == paths
            (shots / "vm-delete-confirm.png").write_bytes(await page.screenshot())
            await _click(page, "#delete-confirm")

            await _until(
                page,
                f"!document.querySelector('{row}') && !document.querySelector('#delete-dialog')",
            )
            assert VM not in {v["name"] for v in api.get("/hosts/demo/vms").json()}
            assert api.get(f"/hosts/demo/vms/{VM}/hardware").status_code == 404
            assert not [p for p in page.problems if p.startswith("exception")], page.problems


async def _settled(api: httpx.Client, vm: str, description: str) -> None:
    """Wait until the demo host's record of ``vm`` has ``description`` (a generous deadline)."""
    with anyio.move_on_after(30):
        while True:
            response = await anyio.to_thread.run_sync(api.get, "/hosts/demo/vms")
            listed = {v["name"]: v for v in response.json()}
            if listed[vm]["description"] == description:
                return
            await anyio.sleep(0.1)
    raise AssertionError(f"{vm}'s description never became {description!r}")


def _operations(server: ServerProcess) -> Callable[[str, str], bool]:
    with server.client() as api:
        paths = api.get("/openapi.json").json()["paths"]
    return lambda method, path: method in paths.get(path, {})


async def test_vm_page_draws_only_the_panels_the_contract_offers(
    server: ServerProcess, tmp_path: Path
) -> None:
    has = _operations(server)
    vm_op = "/hosts/{host_id}/vms/{vm_name}"
    with chromium_process() as endpoint:
        async with devtools_page(endpoint) as page:
            await page.call(
                "Page.navigate",
                url=f"{server.url}/#token={server.token}&next=/hosts/demo/vms/web-01",
            )
            # The hardware panel lists the VM's disks from GET .../hardware.
            await _until(page, "!!document.querySelector('#vm-disks tbody tr')")
            panels = json.loads(
                await page.evaluate(
                    "JSON.stringify(Object.fromEntries(['#change-vm-form', '#clone-form',"
                    " '#snapshots', '#snapshot-form', '#attach-disk-form', '#attach-nic-form']"
                    ".map((s) => [s, !!document.querySelector(s)])))"
                )
            )
            assert panels == {
                "#change-vm-form": has("patch", vm_op),
                "#clone-form": has("post", f"{vm_op}/clone"),
                "#snapshots": has("get", f"{vm_op}/snapshots"),
                "#snapshot-form": has("post", f"{vm_op}/snapshots"),
                "#attach-disk-form": has("post", f"{vm_op}/disks"),
                "#attach-nic-form": has("post", f"{vm_op}/interfaces"),
            }
            # Every lifecycle operation of the table is offered on this page.
            assert all(panels.values())

            assert "null" not in await page.evaluate(_text("#view"))
            (_shot_dir(tmp_path) / "vm-page.png").write_bytes(await page.screenshot())
            # A change through the settings form reaches the server (PATCH).
            await _type(page, "#change-vm-form [name=description]", "changed in the browser")
            await _click(page, "#change-vm-form button[type=submit]")
            await _until(page, f"{_text('#vm-summary')}.endsWith(' · changed in the browser')")
            # The record settles on the new description (the inventory's event path may
            # briefly re-write an older read of the running VM first).
            with server.client() as api:
                await _settled(api, "web-01", "changed in the browser")
