"""Drive headless Chromium over the DevTools protocol (finding it, PNGs: :mod:`tests._browser`)."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect

from tests._browser import HEADLESS_FLAGS, chromium_binary


@contextmanager
def chromium_process(width: int = 1024, height: int = 768) -> Iterator[str]:
    """Run headless Chromium with a throwaway profile; yield its DevTools HTTP endpoint."""
    binary = chromium_binary()
    assert binary is not None
    profile = Path(tempfile.mkdtemp(prefix="vmt-chromium-"))
    process = subprocess.Popen(
        [
            binary,
            *HEADLESS_FLAGS,
            "--disable-component-update",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(600):
            if port_file.exists() and port_file.read_text().strip():
                break
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            time.sleep(0.05)
        else:
            raise RuntimeError("chromium did not open its DevTools port")
        port = int(port_file.read_text().split()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


class DevToolsPage:
    """One page target, spoken to over its DevTools WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        #: Console messages, exceptions and failed loads seen so far (for failure messages).
        self.problems: list[str] = []
        #: Requests sent and not yet finished or failed: request id -> URL.
        self.pending: dict[str, str] = {}

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events in between are skipped)."""
        call_id = next(self._ids)
        await self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.recv())
            self._note(message)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def _note(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"exception: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.problems.append(
                f"{entry.get('level')}: {entry.get('text')} {entry.get('url', '')}"
            )
        elif method == "Network.requestWillBeSent":
            self.pending[params.get("requestId", "")] = params.get("request", {}).get("url", "")
        elif method == "Network.loadingFinished":
            self.pending.pop(params.get("requestId", ""), None)
        elif method == "Network.loadingFailed":
            url = self.pending.pop(params.get("requestId", ""), "")
            self.problems.append(f"load failed: {params.get('errorText')} {url}")

    async def evaluate(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page and return its JSON value."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """Return a PNG screenshot of the viewport, or of ``clip`` (CSS pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        result = await self.call("Page.captureScreenshot", **params)
        return base64.b64decode(result["data"])


@asynccontextmanager
async def devtools_page(endpoint: str) -> AsyncIterator[DevToolsPage]:
    """Open the first page target of the browser at ``endpoint``."""

    def targets() -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{endpoint}/json/list", timeout=10) as response:  # noqa: S310
            found: list[dict[str, Any]] = json.load(response)
            return found

    pages = [t for t in await anyio.to_thread.run_sync(targets) if t.get("type") == "page"]
    async with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
        page = DevToolsPage(ws)
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        await page.call("Log.enable")
        await page.call("Network.enable")
        yield page
