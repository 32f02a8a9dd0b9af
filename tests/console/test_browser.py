"""A real browser opens the console page and shows a real guest's screen."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import anyio
import pytest

from tests._browser import chromium_binary, decode_png
from tests.conftest import Guest
from tests.console._chromium import DevToolsPage, chromium_process, devtools_page
from tests.console.conftest import ConsoleServer

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt, pytest.mark.kvm, pytest.mark.browser]

#: SeaBIOS' banner and boot messages light up a few thousand pixels at the top of the guest's
#: text screen; a blank canvas lights none, and QEMU's "Guest has not initialized the display
#: (yet)." placeholder lights only the middle of the screen.
MIN_LIT_PIXELS = 300


def _lit(r: int, g: int, b: int) -> bool:
    return max(r, g, b) > 96


async def _open_console_page(page: DevToolsPage, url: str) -> None:
    """Load the console page until it reports a connected console.

    Chromium aborts loads in flight (``ERR_NETWORK_CHANGED``, or a request that never ends)
    when a network interface appears or goes -- which other tests' guests do with their tap
    devices. The page is then loaded again, twice at most; any other failure fails the test.
    """
    state = status = None
    for attempt in range(3):
        page.problems.append(f"--- attempt {attempt + 1}")
        first_problem = len(page.problems)
        page.pending.clear()
        # By way of a blank page: navigating to the same URL again would only be a fragment
        # change (no reload) when the page never ran and so never removed its fragment.
        await page.call("Page.navigate", url="about:blank")
        await page.call("Page.navigate", url=url)

        def network_changed(first: int = first_problem) -> bool:
            return any("ERR_NETWORK_CHANGED" in item for item in page.problems[first:])

        state = status = None
        # The page fetches ~40 small modules from loopback; 20 s without starting is a stall.
        with anyio.move_on_after(20):
            while state in {None, "starting"} and not network_changed():
                await anyio.sleep(0.2)
                state = await page.evaluate("document.body && document.body.dataset.state")
        if state in {None, "starting"}:
            page.problems.append(f"stalled; pending: {list(page.pending.values())}")
            continue
        with anyio.move_on_after(60):
            while state == "connecting":
                await anyio.sleep(0.2)
                state = await page.evaluate("document.body.dataset.state")
        status = await page.evaluate("document.getElementById('status').textContent")
        if state == "connected":
            return
        if not network_changed():
            break
    location = await page.evaluate("location.href")
    pytest.fail(f"the console page at {location} says {state}: {status}; {page.problems}")


async def _canvas_screenshot(page: DevToolsPage) -> bytes | None:
    """Return a screenshot of the guest's screen (the console's canvas), once there is one."""
    found = await page.evaluate(
        "(() => { const c = document.querySelector('#screen canvas');"
        " return c ? JSON.stringify(c.getBoundingClientRect()) : null; })()"
    )
    if found is None:
        return None  # SPICE reports "connected" before its display channel draws a canvas
    rect = json.loads(found)
    if rect["width"] < 1 or rect["height"] < 1:
        return None
    clip = {key: float(rect[key]) for key in ("x", "y", "width", "height")}
    return await page.screenshot(clip)


@pytest.mark.parametrize("kind", ["vnc", "spice"])
async def test_the_console_page_shows_the_guests_bios_screen(
    console_server: ConsoleServer, kvm_guest: Guest, tmp_path: Path, kind: str
) -> None:
    if chromium_binary() is None:
        pytest.fail("chromium is not installed; run scripts/provision-libvirt", pytrace=False)
    if kind == "spice" and os.environ.get("VMT_CONSOLE_APP") == "console-only":
        pytest.skip("the SPICE page signs in with POST /api/v1/session (whole service only)")
    url = (
        f"{console_server.base_url}/static/console.html"
        f"?host={console_server.local_host}&vm={quote(kvm_guest.name)}&kind={kind}"
        f"#token={console_server.token}"
    )
    with chromium_process() as endpoint:
        async with devtools_page(endpoint) as page:
            await _open_console_page(page, url)
            # The first update can land before SeaBIOS has printed: look again until text shows.
            lit = 0
            png = None
            with anyio.move_on_after(60):
                while lit < MIN_LIT_PIXELS:
                    png = await _canvas_screenshot(page)
                    if png is None:
                        await anyio.sleep(0.2)
                        continue
                    image = decode_png(png)
                    top = image.rows(0, image.height // 4)
                    lit = await anyio.to_thread.run_sync(top.count, _lit)
                    if lit < MIN_LIT_PIXELS:
                        await anyio.sleep(0.5)
            full = await page.screenshot()
            status = await page.evaluate("document.getElementById('status').textContent")
    (tmp_path / "page.png").write_bytes(full)
    assert png is not None, f"the page never showed the guest's screen ({status}); see {tmp_path}"
    (tmp_path / "canvas.png").write_bytes(png)
    assert lit >= MIN_LIT_PIXELS, f"no guest text on the console ({status}); see {tmp_path}"
    # Text on black, not a grey error page or a white blank: most of the screen stays dark.
    assert image.count(_lit) < image.width * image.height // 4
