"""The dashboard page as a person sees it: headless Chromium screenshots of a running server.

The page is served by ``virtumancer serve --demo``; it signs in with the token given in the URL
fragment, fetches the API and opens ``/ws``. The assertions are on pixels: the topology
diagram shows the API document's status colours for the demo's running and shut-off VMs.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from tests.server.conftest import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.libvirt]

GREEN = (0x10, 0xB9, 0x81)  # connected / running
RED = (0xEF, 0x44, 0x44)  # disconnected / stopped


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed; run scripts/provision-libvirt", pytrace=False)


def screenshot(url: str, out: Path, *, size: str = "1280,900") -> Path:
    subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--user-data-dir={out.parent / (out.stem + '-profile')}",
            "--virtual-time-budget=5000",
            f"--screenshot={out}",
            f"--window-size={size}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG into rows of RGB bytes (enough for Chromium's output)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            assert color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind_byte = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind_byte == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind_byte == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind_byte == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind_byte == 4:
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
        previous = line
        rgb = bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)
        rows.append(rgb)
    return width, height, rows


def colour_counts(path: Path) -> Counter[tuple[int, int, int]]:
    _, _, rows = read_png(path)
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        for i in range(0, len(row), 3):
            counts[(row[i], row[i + 1], row[i + 2])] += 1
    return counts


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
    counts = colour_counts(shot)
    # The demo host (connected) and its three running VMs are green discs, the three shut-off
    # VMs red discs: thousands of pixels each, far more than the small legend dots.
    assert near(counts, GREEN) > 3000
    assert near(counts, RED) > 800


def test_dashboard_shows_the_page_not_the_sign_in_form(
    server: ServerProcess, tmp_path: Path
) -> None:
    signed_in = colour_counts(
        screenshot(f"{server.url}/#token={server.token}", tmp_path / "dash.png")
    )
    signed_out = colour_counts(screenshot(f"{server.url}/", tmp_path / "login.png"))
    # Signed in, the "CONNECTED" badge of the demo host and the live indicator are green;
    # signed out there is no green at all.
    assert near(signed_in, GREEN) > 200
    assert near(signed_out, GREEN) == 0
