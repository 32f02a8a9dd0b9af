"""Headless Chromium for browser tests: find it, take screenshots, decode its PNGs.

Shared by the console's DevTools-driven tests (:mod:`tests.console._chromium`) and the
dashboard's one-shot screenshots (:mod:`tests.server.test_ws_dashboard_browser`).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest

#: Flags every headless run uses: no sandbox (root in CI), no GPU, no phoning home.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
)


def chromium_binary() -> str | None:
    """Return the path of Chromium (or Chrome), or ``None`` when it is not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(url: str, out: Path, *, size: str = "1280,900") -> Path:
    """Load ``url`` in a fresh headless Chromium and save a PNG of the window to ``out``."""
    binary = chromium_binary()
    if binary is None:
        pytest.fail("chromium is not installed; run scripts/provision-libvirt", pytrace=False)
    subprocess.run(
        [
            binary,
            *HEADLESS_FLAGS,
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


def dump_dom(url: str, profile: Path) -> str:
    """Load ``url`` in a fresh headless Chromium and return the page's DOM as HTML.

    Chromium runs the page's scripts for up to five seconds of virtual time first (as
    :func:`screenshot` does); ``profile`` is the throwaway user-data directory.
    """
    binary = chromium_binary()
    if binary is None:
        pytest.fail("chromium is not installed; run scripts/provision-libvirt", pytrace=False)
    done = subprocess.run(
        [
            binary,
            *HEADLESS_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return done.stdout.decode()


@attrs.frozen(kw_only=True)
class Image:
    """Decoded RGB pixels, row by row."""

    width: int
    height: int
    rgb: bytes

    def rows(self, start: int, stop: int) -> Image:
        """Return the image of rows ``start`` to ``stop`` (exclusive)."""
        stop = min(stop, self.height)
        return Image(
            width=self.width,
            height=stop - start,
            rgb=self.rgb[start * self.width * 3 : stop * self.width * 3],
        )

    def count(self, predicate: Any) -> int:
        """Return how many pixels ``predicate(r, g, b)`` holds for."""
        data = self.rgb
        return sum(
            1 for i in range(0, len(data), 3) if predicate(data[i], data[i + 1], data[i + 2])
        )


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> Image:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat = 8, b""
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or interlace != 0 or colour not in {2, 6}:
                raise ValueError("unsupported PNG")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    rgb = bytearray()
    for row in range(height):
        start = row * (stride + 1)
        filter_type = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif filter_type == 4:
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
        for i in range(0, stride, channels):
            rgb += line[i : i + 3]
        previous = line
    return Image(width=width, height=height, rgb=bytes(rgb))


def read_png(path: Path) -> Image:
    """Decode the PNG file at ``path`` (see :func:`decode_png`)."""
    return decode_png(path.read_bytes())


def colour_counts(image: Image) -> Counter[tuple[int, int, int]]:
    """Return how many pixels have each RGB colour."""
    data = image.rgb
    return Counter((data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3))
