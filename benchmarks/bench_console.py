"""The console relay: throughput, time to first byte and CPU per MB, beside websockify.

A VNC-like TCP source (``RFB 003.008\\n``; once the client answers with its version,
``--mib`` MiB of incompressible bytes, then close) is read three ways in the same run,
``--rounds`` times each, interleaved:

1. through Virtumancer's console relay (``virtumancer_server.console`` routes in a real
   uvicorn process, the library's ``open_console_stream`` dialling the source) by a WebSocket
   client asking for the ``binary`` subprotocol;
2. through websockify (from PyPI, ``.venv/bin/websockify``) by the same client;
3. over raw TCP, the limit.

Figures (medians over rounds; the best round too): throughput in MiB/s and its ratio to
websockify (target >= 1.0x), time to first byte from the start of the connect to the first
payload byte, over short sessions that read the banner and leave (target <= websockify's;
the median inside the bulk transfers is in the JSON too), and relay CPU (user + system of
the relay process and its children, sampled from ``/proc``) per MiB moved.

The client is a lean one (blocking socket, frame headers parsed, payloads counted and dropped)
so that it costs little CPU next to the relays on a 2-core machine.

Run: ``.venv/bin/python -m benchmarks console`` or ``.venv/bin/python benchmarks/bench_console.py
[--mib 128] [--rounds 9] [--json]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from virtumancer.testing import free_port

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
BANNER = b"RFB 003.008\n"
MIB = 1024 * 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the source ----------------------------------------------------------------------------


def serve_source(port_file: Path, total: int) -> None:
    """Serve the VNC-like stream to every connection (run in its own process)."""
    block = os.urandom(MIB)
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    port_file.write_text(str(listener.getsockname()[1]))

    def feed(conn: socket.socket) -> None:
        # OSError: the reader left early (the first-byte probes do).
        with contextlib.suppress(OSError):
            stream(conn)

    def stream(conn: socket.socket) -> None:
        with conn:
            conn.sendall(BANNER)
            # Like a VNC server: wait for the client's version before the framebuffer flood.
            reply = b""
            while len(reply) < len(BANNER):
                answer = conn.recv(len(BANNER) - len(reply))
                if not answer:
                    return
                reply += answer
            left = total
            view = memoryview(block)
            while left > 0:
                chunk = view[: min(left, len(block))]
                conn.sendall(chunk)
                left -= len(chunk)
            conn.shutdown(socket.SHUT_WR)
            # Wait for the peer to close, so the last bytes are not reset away.
            conn.settimeout(30)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=feed, args=(conn,), daemon=True).start()


# --- the relay app (for uvicorn --factory) -------------------------------------------------


def make_bench_app() -> Any:
    """Build an app with only the console routes, aimed at ``VMT_BENCH_SOURCE_PORT``."""
    import falcon.asgi
    from tests.console._app import FixedTargetManager

    from virtumancer_server.config import ServerConfig
    from virtumancer_server.console import add_routes
    from virtumancer_server.errors import install_error_handlers
    from virtumancer_server.upgrade import App

    app: falcon.asgi.App[Any, Any] = App()
    install_error_handlers(app)
    config = ServerConfig(token=os.environ["VMT_BENCH_TOKEN"])
    add_routes(app, FixedTargetManager(int(os.environ["VMT_BENCH_SOURCE_PORT"])), config)
    return app


# --- processes -----------------------------------------------------------------------------


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.025)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def _process(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _own_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # utime and stime are fields 14 and 15 (1-based); after the ")" they are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


class CpuSampler:
    """CPU seconds used by a process and its descendants while the block runs.

    websockify forks a child per connection that exits when it ends, so children are sampled
    every few milliseconds and their last reading kept (an under-count of at most one period).
    """

    def __init__(self, pid: int, period_s: float = 0.005) -> None:
        self._pid = pid
        self._period_s = period_s
        self._seen: dict[int, float] = {}
        self._baseline: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[int, float]:
        pending, readings = [self._pid], {}
        while pending:
            pid = pending.pop()
            value = _own_cpu(pid)
            if value is not None:
                readings[pid] = value
                pending += _children(pid)
        return readings

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            self._seen.update(self._sample())

    def __enter__(self) -> CpuSampler:
        self._baseline = self._sample()
        self._seen = dict(self._baseline)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._seen.update(self._sample())

    @property
    def seconds(self) -> float:
        return sum(value - self._baseline.get(pid, 0.0) for pid, value in self._seen.items())


# --- the client ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Transfer:
    """One read of the whole stream."""

    seconds: float
    first_byte_s: float
    bytes: int
    cpu_s: float | None = None

    @property
    def mib_per_s(self) -> float:
        return self.bytes / MIB / self.seconds


def _client_frame(payload: bytes) -> bytes:
    """Return a masked binary frame (what a client must send) holding ``payload`` (< 126 B)."""
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x82, 0x80 | len(payload)]) + mask + masked


def _read_websocket(url: str, expected: int, headers: dict[str, str]) -> Transfer:
    """Read ``expected`` payload bytes from a WebSocket with as little client CPU as possible.

    A lean client (blocking socket, frame headers parsed, payloads counted and dropped) so the
    relays, not the client, set the pace. It asks for the ``binary`` subprotocol, offers no
    compression and checks the 101 answer; every received frame must be a binary (or
    continuation) data frame.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {parts.path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: binary",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    buffer = bytearray(4 * MIB)
    view = memoryview(buffer)
    started = time.perf_counter()
    first = None
    received = 0
    with socket.create_connection((host, port)) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("the relay closed during the handshake")
            head += chunk
        head, _, pending = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"upgrade refused: {head.splitlines()[0]!r}")
        data = bytearray(pending)

        def need(count: int) -> bytes:
            while len(data) < count:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the relay closed mid-frame")
                data.extend(chunk)
            taken = bytes(data[:count])
            del data[:count]
            return taken

        while received < expected:
            first_two = need(2)
            opcode, length = first_two[0] & 0x0F, first_two[1] & 0x7F
            if opcode not in {0x0, 0x2}:
                raise RuntimeError(f"unexpected frame opcode {opcode}")
            if length == 126:
                (length,) = struct.unpack(">H", need(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", need(8))
            # Payload: what is already buffered, then straight into a reused buffer.
            from_buffer = min(length, len(data))
            del data[:from_buffer]
            left = length - from_buffer
            while left:
                count = sock.recv_into(view, min(left, len(buffer)))
                if not count:
                    raise RuntimeError("the relay closed mid-frame")
                left -= count
            if first is None:
                first = time.perf_counter()
                if expected > len(BANNER):
                    sock.sendall(_client_frame(BANNER))
            received += length
    finished = time.perf_counter()
    assert first is not None
    return Transfer(seconds=finished - started, first_byte_s=first - started, bytes=received)


def _read_tcp(port: int, expected: int) -> Transfer:
    buffer = bytearray(4 * MIB)
    received = 0
    first = None
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        while received < expected:
            count = sock.recv_into(buffer)
            if not count:
                break
            if first is None:
                first = time.perf_counter()
                if expected > len(BANNER):
                    sock.sendall(BANNER)
            received += count
    finished = time.perf_counter()
    assert first is not None
    return Transfer(seconds=finished - started, first_byte_s=first - started, bytes=received)


def _measured(pid: int | None, run: Callable[[], Transfer]) -> Transfer:
    if pid is None:
        return run()
    with CpuSampler(pid) as sampler:
        transfer = run()
        # Let a forked handler finish its last writes and exit under the sampler's eye.
        time.sleep(0.05)
    return attrs.evolve(transfer, cpu_s=sampler.seconds)


# --- main ----------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mib", type=int, default=128, help="MiB streamed per transfer")
    parser.add_argument("--rounds", type=int, default=9, help="transfers per contender")
    parser.add_argument(
        "--first-byte-samples", type=int, default=30, help="short sessions per contender"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv if argv is not None else [])
    if args.mib < 1:
        parser.error("--mib must be at least 1")
    total = args.mib * MIB
    expected = total + len(BANNER)
    token = secrets.token_urlsafe(16)

    port_file = Path(f"/tmp/vmt-bench-console-{os.getpid()}.port")
    port_file.unlink(missing_ok=True)
    source_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-source", str(port_file)]
    source_cmd += ["--mib", str(args.mib)]
    relay_port, websockify_port = free_port(), free_port()
    with _process(source_cmd) as source:
        for _ in range(400):
            if port_file.exists() and port_file.read_text():
                break
            if source.poll() is not None:
                raise RuntimeError("the source did not start")
            time.sleep(0.025)
        source_port = int(port_file.read_text())
        port_file.unlink()
        env = dict(os.environ)
        env.update(
            VMT_BENCH_SOURCE_PORT=str(source_port),
            VMT_BENCH_TOKEN=token,
            PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src")]),
        )
        relay_cmd = [sys.executable, "-m", "uvicorn", "--factory"]
        relay_cmd += ["benchmarks.bench_console:make_bench_app", "--port", str(relay_port)]
        relay_cmd += ["--log-level", "warning", "--no-access-log"]
        websockify_cmd = [str(VENV_BIN / "websockify"), f"127.0.0.1:{websockify_port}"]
        websockify_cmd += [f"127.0.0.1:{source_port}"]
        with _process(relay_cmd, env) as relay, _process(websockify_cmd) as websockify:
            _wait_port(relay_port, relay)
            _wait_port(websockify_port, websockify)
            relay_url = f"ws://127.0.0.1:{relay_port}/api/v1/hosts/bench/vms/source/console"
            auth = {"Authorization": f"Bearer {token}"}
            results: dict[str, list[Transfer]] = {"relay": [], "websockify": [], "tcp": []}
            # One warm-up each (imports, first connections), not counted.
            _read_websocket(relay_url, expected, auth)
            websockify_url = f"ws://127.0.0.1:{websockify_port}/"
            _read_websocket(websockify_url, expected, {})
            contenders: dict[str, tuple[int | None, Callable[[], Transfer]]] = {
                "relay": (
                    relay.pid,
                    lambda: _read_websocket(relay_url, expected, auth),
                ),
                "websockify": (
                    websockify.pid,
                    lambda: _read_websocket(websockify_url, expected, {}),
                ),
                "tcp": (None, lambda: _read_tcp(source_port, expected)),
            }
            # Time to first byte on its own: short sessions that read the banner and leave.
            first_bytes: dict[str, list[float]] = {"relay": [], "websockify": [], "tcp": []}
            for _ in range(args.first_byte_samples):
                first_bytes["relay"].append(
                    _read_websocket(relay_url, len(BANNER), auth).first_byte_s
                )
                first_bytes["websockify"].append(
                    _read_websocket(websockify_url, len(BANNER), {}).first_byte_s
                )
                first_bytes["tcp"].append(_read_tcp(source_port, len(BANNER)).first_byte_s)
            names = list(contenders)
            for round_number in range(args.rounds):
                # Rotate the order so no contender always runs first (or right after another).
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    pid, run = contenders[name]
                    results[name].append(_measured(pid, run))
    _print(results, first_bytes, args.mib, args.json)


def _print(
    results: dict[str, list[Transfer]],
    first_bytes: dict[str, list[float]],
    mib: int,
    as_json: bool,
) -> None:
    figures: dict[str, dict[str, float | None]] = {}
    for name, transfers in results.items():
        cpu_per_mib = [t.cpu_s / mib * 1000 for t in transfers if t.cpu_s is not None]
        figures[name] = {
            "mib_per_s": _median([t.mib_per_s for t in transfers]),
            "best_mib_per_s": max(t.mib_per_s for t in transfers),
            "first_byte_ms": _median([value * 1000 for value in first_bytes[name]]),
            "first_byte_in_bulk_ms": _median([t.first_byte_s * 1000 for t in transfers]),
            "cpu_ms_per_mib": _median(cpu_per_mib) if cpu_per_mib else None,
        }
    relay, websockify, tcp = figures["relay"], figures["websockify"], figures["tcp"]

    def number(figure: dict[str, float | None], key: str) -> float:
        value = figure[key]
        return 0.0 if value is None else value

    ratio = number(relay, "mib_per_s") / (number(websockify, "mib_per_s") or 1)
    best_ratio = number(relay, "best_mib_per_s") / (number(websockify, "best_mib_per_s") or 1)
    print(
        f"{mib} MiB per transfer; medians (and best) of {len(results['relay'])} rounds; first"
        f" byte: median of {len(first_bytes['relay'])} short sessions"
    )
    print(f"{'':<12}{'MiB/s':>10}{'best':>10}{'first byte ms':>16}{'CPU ms/MiB':>14}")
    for name, figure in figures.items():
        cpu = figure["cpu_ms_per_mib"]
        cpu_text = f"{cpu:>14.2f}" if cpu is not None else f"{'-':>14}"
        print(
            f"{name:<12}{number(figure, 'mib_per_s'):>10.1f}"
            f"{number(figure, 'best_mib_per_s'):>10.1f}"
            f"{number(figure, 'first_byte_ms'):>16.2f}{cpu_text}"
        )
    ttfb_ok = number(relay, "first_byte_ms") <= number(websockify, "first_byte_ms")
    print(
        f"throughput ratio relay/websockify: {ratio:.2f}x median, {best_ratio:.2f}x best"
        f" (target >= 1.0x) [{'meets' if ratio >= 1.0 else 'MISSES'}]"
    )
    print(
        f"first byte: relay {number(relay, 'first_byte_ms'):.2f} ms vs websockify "
        f"{number(websockify, 'first_byte_ms'):.2f} ms (target <=)"
        f" [{'meets' if ttfb_ok else 'MISSES'}]"
    )
    print(f"relay vs raw TCP: {number(relay, 'mib_per_s') / (number(tcp, 'mib_per_s') or 1):.2f}x")
    if as_json:
        print(json.dumps({"mib": mib, "figures": figures, "ratio_to_websockify": ratio}))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-source":
        mib = int(sys.argv[sys.argv.index("--mib") + 1]) if "--mib" in sys.argv else 128
        serve_source(Path(sys.argv[2]), mib * MIB)
    else:
        sys.path[:0] = [str(REPO), str(REPO / "src")]
        main(sys.argv[1:])
