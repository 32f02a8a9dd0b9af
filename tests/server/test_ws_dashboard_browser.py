"""The dashboard page as a person sees it: headless Chromium screenshots of a running server.

The page is served by ``virtumancer serve --demo``; it signs in with the token given in the URL
fragment, fetches the API and opens ``/ws``. The assertions are on pixels: the topology
diagram shows the API document's status colours for the demo's running and shut-off VMs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests._browser import colour_counts, read_png, screenshot
from tests.server.conftest import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.libvirt]

GREEN = (0x10, 0xB9, 0x81)  # connected / running
RED = (0xEF, 0x44, 0x44)  # disconnected / stopped


def near(counts: Counter[tuple[int, int, int]], colour: tuple[int, int, int]) -> int:
    return sum(
        n for c, n in counts.items() if all(abs(a - b) <= 3 for a, b in zip(c, colour, strict=True))
    )


def test_topology_diagram_shows_running_and_stopped_vms_in_the_documented_colours(
    server: ServerProcess, tmp_path: Path
) -> None:
    shot = screenshot(
        f"{server.url}/#token={server.token}&next=/topology/diagram", tmp_path / "topology.png"
    )
    counts = colour_counts(read_png(shot))
    # The demo host (connected) and its three running VMs are green discs, the three shut-off
    # VMs red discs: thousands of pixels each, far more than the small legend dots.
    assert near(counts, GREEN) > 3000
    assert near(counts, RED) > 800


def test_dashboard_shows_the_page_not_the_sign_in_form(
    server: ServerProcess, tmp_path: Path
) -> None:
    signed_in = colour_counts(
        read_png(screenshot(f"{server.url}/#token={server.token}", tmp_path / "dash.png"))
    )
    signed_out = colour_counts(read_png(screenshot(f"{server.url}/", tmp_path / "login.png")))
    # Signed in, the "CONNECTED" badge of the demo host and the live indicator are green;
    # signed out there is no green at all.
    assert near(signed_in, GREEN) > 200
    assert near(signed_out, GREEN) == 0
