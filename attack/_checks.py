"""The attacks, grouped; each check returns whether the server held and what was seen."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from attack._server import TOKEN, LiveServer

SSH_KEY = Path.home() / ".ssh" / "virtumancer-test_ed25519"
SSH = "root@127.0.0.1:2222"


@attrs.frozen
class Verdict:
    group: str
    attack: str
    held: bool
    detail: str


Check = Callable[[Path], list[Verdict]]
GROUPS: dict[str, Check] = {}


def group(name: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        GROUPS[name] = check
        return check

    return register


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "<not JSON>"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code"))
    return "<no error body>"


# --- hostile URIs ---------------------------------------------------------------------


@attrs.define
class _Canary:
    directory: Path
    accepted: list[bool] = attrs.field(factory=list)

    @property
    def program(self) -> Path:
        return self.directory / "x.sh"

    @property
    def marker(self) -> Path:
        return self.directory / "ran"

    @property
    def sock(self) -> Path:
        return self.directory / "evil.sock"

    @property
    def written(self) -> Path:
        return self.directory / "known_hosts"

    def touched(self) -> bool:
        return self.marker.exists() or self.written.exists() or bool(self.accepted)


@contextmanager
def _canary(directory: Path) -> Iterator[_Canary]:
    directory.mkdir(parents=True, exist_ok=True)
    canary = _Canary(directory)
    canary.program.write_text(f"#!/bin/sh\necho ran > {canary.marker}\nexit 1\n")
    canary.program.chmod(canary.program.stat().st_mode | stat.S_IXUSR)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(canary.sock))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            canary.accepted.append(True)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield canary
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()


def _hostile_uris(c: _Canary) -> list[tuple[str, str]]:
    key = f"keyfile={SSH_KEY}"
    return [
        ("';' hides command=", f"qemu+ssh://{SSH}/system?{key};command={c.program}"),
        ("';' hides a 2nd socket=", f"test+unix:///default?socket=/run/libvirt/x;socket={c.sock}"),
        ("%-encoded command=", f"qemu+ssh://{SSH}/system?{key}&%63ommand={c.program}"),
        ("upper-case COMMAND=", f"qemu+ssh://{SSH}/system?COMMAND={c.program}"),
        ("netcat=", f"qemu+ssh://{SSH}/system?{key}&netcat={c.program}"),
        ("ext transport", f"qemu+ext:///system?command={c.program}"),
        ("socket= outside run dirs", f"qemu+unix:///system?socket={c.sock}"),
        ("socket= via ..", f"qemu+unix:///system?socket=/run/libvirt/../..{c.sock}"),
        ("socket= via %2e%2e", f"qemu+unix:///system?socket=/run/libvirt/%2e%2e/%2e%2e{c.sock}"),
        ("socket= with %00", f"qemu+unix:///system?socket=/run/libvirt/x%00/../../..{c.sock}"),
        (
            "known_hosts write (auto)",
            f"qemu+libssh2://{SSH}/system?{key}&sshauth=privkey"
            f"&known_hosts={c.written}&known_hosts_verify=auto",
        ),
        (
            "keyfile= outside key dirs",
            f"qemu+ssh://{SSH}/system?keyfile=/etc/ssh/ssh_host_ed25519_key",
        ),
        ("authfile=", f"qemu+ssh://{SSH}/system?authfile=/etc/shadow"),
        ("name= (other remote URI)", f"qemu+ssh://{SSH}/system?name=test:///default"),
        ("repeated keyfile", f"qemu+ssh://{SSH}/system?{key}&KEYFILE=/tmp/k"),
        ("test node outside dirs", "test:///etc/libvirt/qemu/networks/default.xml"),
        ("test+unix node outside dirs", "test+unix:///root/secret.xml"),
        ("ssh option as host", "qemu+ssh://-oProxyCommand=x/system"),
        ("password in URI", f"qemu+ssh://root:hunter2@127.0.0.1:2222/system?{key}"),
    ]


@group("uri")
def check_uris(work: Path) -> list[Verdict]:
    verdicts = []
    with LiveServer(work / "uri") as server, server.client() as client:
        for index, (name, make) in enumerate(_indexed(_hostile_uris)):
            with _canary(work / f"canary{index}") as canary:
                uri = make(canary)
                response = client.post("/hosts", json={"id": f"attack{index}", "uri": uri})
                time.sleep(0.2)  # a spawned program or socket dial would show by now
                touched = canary.touched()
                leaked = "hunter2" in response.text
                held = response.status_code == 400 and not touched and not leaked
                verdicts.append(
                    Verdict(
                        "uri",
                        name,
                        held,
                        f"{response.status_code} {_error_code(response)}"
                        + ("; CANARY TOUCHED" if touched else "")
                        + ("; PASSWORD ECHOED" if leaked else ""),
                    )
                )
    return verdicts


def _indexed(
    make_all: Callable[[_Canary], list[tuple[str, str]]],
) -> Iterator[tuple[str, Callable[[_Canary], str]]]:
    names = [name for name, _ in make_all(_Canary(Path("/nonexistent")))]
    for position, name in enumerate(names):
        yield name, lambda canary, position=position: make_all(canary)[position][1]  # type: ignore[misc]


# --- authentication ---------------------------------------------------------------------

_PROTECTED = [
    ("GET", "/hosts"),
    ("POST", "/hosts"),
    ("GET", "/hosts/demo/vms"),
    ("POST", "/hosts/demo/disconnect"),
    ("GET", "/dashboard/activity"),
    ("PUT", "/settings/metrics"),
    ("GET", "/storage/pools"),
]


@group("auth")
def check_auth(work: Path) -> list[Verdict]:
    verdicts = []
    with LiveServer(work / "auth") as server:
        for label, headers in [
            ("no token", {}),
            ("wrong token", {"Authorization": "Bearer wrong-token-0000"}),
            ("token as Basic", {"Authorization": f"Basic {TOKEN}"}),
        ]:
            with httpx.Client(base_url=f"{server.url}/api/v1", timeout=10) as client:
                statuses = {
                    f"{method} {path}": client.request(
                        method, path, headers=headers, json={} if method != "GET" else None
                    ).status_code
                    for method, path in _PROTECTED
                }
            held = all(status == 401 for status in statuses.values())
            shown = ", ".join(f"{k}={v}" for k, v in statuses.items() if v != 401) or "all 401"
            verdicts.append(Verdict("auth", f"routes with {label}", held, shown))
        verdicts.extend(_role_matrix(server))
        verdicts.append(asyncio.run(_ws_without_token(server)))
    return verdicts


def _role_matrix(server: LiveServer) -> list[Verdict]:
    """Managed tokens: a viewer may read but not act; an operator may act but not add hosts."""
    with server.client() as admin:
        probe = admin.get("/tokens")
        if probe.status_code == 404:
            return [Verdict("auth", "role matrix", False, "no /api/v1/tokens route")]
        secrets: dict[str, str] = {}
        for role in ("viewer", "operator"):
            created = admin.post("/tokens", json={"name": f"attack-{role}", "role": role})
            if created.status_code != 201:
                return [Verdict("auth", "role matrix", False, f"create {role}: {created.text}")]
            body = created.json()
            secrets[role] = str(body.get("token") or body.get("secret"))
    expectations = [
        ("viewer", "GET", "/hosts", None, 200),
        ("viewer", "POST", "/hosts/demo/vms/web-01/action", {"action": "start"}, 403),
        ("viewer", "POST", "/tokens", {"name": "x", "role": "admin"}, 403),
        ("operator", "POST", "/hosts", {"id": "o", "uri": "test:///default"}, 403),
        ("operator", "PUT", "/settings/metrics", {}, 403),
        ("operator", "GET", "/tokens", None, 403),
    ]
    verdicts = []
    for role, method, path, body, expected in expectations:
        headers = {"Authorization": f"Bearer {secrets[role]}"}
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=10) as client:
            status = client.request(method, path, headers=headers, json=body).status_code
        verdicts.append(
            Verdict("auth", f"{role}: {method} {path}", status == expected, f"{status}")
        )
    return verdicts


async def _ws_without_token(server: LiveServer) -> Verdict:
    try:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=5):
            return Verdict("auth", "/ws without token", False, "upgrade accepted")
    except Exception as exc:
        return Verdict("auth", "/ws without token", True, type(exc).__name__)


# --- slow and oversized input ------------------------------------------------------------

SLOWLORIS_CONNECTIONS = 2000


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@group("slowloris")
def check_slowloris(work: Path) -> list[Verdict]:
    _raise_nofile()
    with LiveServer(work / "slowloris") as server:
        slow: list[socket.socket] = []
        opened = 0
        for _ in range(SLOWLORIS_CONNECTIONS):
            sock = socket.socket()
            sock.settimeout(5)
            try:
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(b"GET /api/v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
                opened += 1
            except OSError:
                sock.close()
                continue
            slow.append(sock)
        failures = 0
        latencies = []
        with server.client() as client:
            for _ in range(50):
                started = time.perf_counter()
                try:
                    if client.get("/hosts", timeout=10).status_code != 200:
                        failures += 1
                except httpx.HTTPError:
                    failures += 1
                latencies.append(time.perf_counter() - started)
        # The header timeout must end every half-sent request.
        deadline = time.monotonic() + 60
        closed = 0
        for sock in slow:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                sock.recv(4096)  # EOF, or a 408 before the close: the server ended it
                closed += 1
            except TimeoutError:
                pass
            except OSError:
                closed += 1  # reset by the server
            finally:
                sock.close()
        alive = server.alive()
    worst = max(latencies) * 1000 if latencies else float("nan")
    return [
        Verdict(
            "slowloris",
            f"{opened} half-sent requests: other clients served",
            failures == 0 and alive,
            f"{50 - failures}/50 OK, slowest {worst:.0f} ms",
        ),
        Verdict(
            "slowloris",
            "half-sent requests are closed by the server",
            closed == len(slow),
            f"{closed}/{len(slow)} closed within 60 s",
        ),
    ]


@group("frames")
def check_frames(work: Path) -> list[Verdict]:
    with LiveServer(work / "frames") as server:
        before = server.rss_bytes()
        results = asyncio.run(_big_frames(server))
        after = server.rss_bytes()
        alive = server.alive()
    growth = (after - before) / 2**20
    closed_all = all(results)
    return [
        Verdict(
            "frames",
            "20 clients x 16 MiB WebSocket frames",
            closed_all and alive and growth < 200,
            f"{sum(results)}/20 closed by the server, RSS +{growth:.0f} MiB",
        )
    ]


async def _big_frames(server: LiveServer) -> list[bool]:
    async def one() -> bool:
        url = f"ws://127.0.0.1:{server.port}/ws?token={TOKEN}"
        try:
            async with ws_connect(url, max_size=None, open_timeout=10) as socket_:
                await socket_.send("x" * (16 * 2**20))
                await asyncio.wait_for(socket_.recv(), 20)
        except ConnectionClosed as closed:
            return closed.rcvd is not None and closed.rcvd.code in {1009, 1008, 1003}
        except (TimeoutError, OSError):
            return False
        return False

    return list(await asyncio.gather(*(one() for _ in range(20))))


@group("bombs")
def check_bombs(work: Path) -> list[Verdict]:
    verdicts = []
    deep = "[" * 100_000 + "]" * 100_000
    big_int = '{"id": "x", "uri": "test:///default", "n": ' + "9" * 5000 + "}"
    with LiveServer(work / "bombs") as server, server.client() as client:
        cases = [
            ("JSON nested 100,000 deep", "POST", "/hosts", deep),
            ("integer of 5,000 digits", "POST", "/hosts", big_int),
            ("?limit= of 5,000 digits", "GET", "/dashboard/activity?limit=" + "9" * 5000, None),
            ("NUL in host id", "GET", "/hosts/de%00mo/vms", None),
            ("NUL in VM name", "GET", "/hosts/demo/vms/web%00-01/hardware", None),
            (
                "NUL in new host id",
                "POST",
                "/hosts",
                '{"id": "a\\u0000b", "uri": "test:///default"}',
            ),
        ]
        for name, method, path, body in cases:
            response = client.request(
                method,
                path,
                content=body,
                headers={"Content-Type": "application/json"} if body else {},
            )
            held = response.status_code == 400 and _error_code(response) != "<not JSON>"
            verdicts.append(
                Verdict("bombs", name, held, f"{response.status_code} {_error_code(response)}")
            )
        verdicts.append(asyncio.run(_ws_bomb(server)))
        verdicts.append(Verdict("bombs", "server still up", server.alive(), ""))
    return verdicts


async def _ws_bomb(server: LiveServer) -> Verdict:
    url = f"ws://127.0.0.1:{server.port}/ws?token={TOKEN}"
    async with ws_connect(url, open_timeout=10) as socket_:
        await socket_.send("[" * 50_000 + "]" * 50_000)
        try:
            reply = json.loads(await asyncio.wait_for(socket_.recv(), 10))
            await socket_.send(json.dumps({"type": "bogus"}))
            second = json.loads(await asyncio.wait_for(socket_.recv(), 10))
        except (ConnectionClosed, TimeoutError) as exc:
            return Verdict("bombs", "/ws nested 50,000 deep", False, f"socket ended: {exc}")
    held = reply.get("type") == "error" and second.get("type") == "error"
    return Verdict("bombs", "/ws nested 50,000 deep", held, "error reply, socket stays open")


# --- local exposure ----------------------------------------------------------------------


@group("rebinding")
def check_rebinding(work: Path) -> list[Verdict]:
    verdicts = []
    with (
        LiveServer(work / "noauth", no_auth=True) as server,
        httpx.Client(base_url=f"{server.url}/api/v1", timeout=10) as client,
    ):
        rebound = client.get("/hosts", headers={"Host": f"evil.example:{server.port}"})
        verdicts.append(
            Verdict(
                "rebinding",
                "--no-auth: Host evil.example",
                400 <= rebound.status_code < 500,
                str(rebound.status_code),
            )
        )
        cross = client.post(
            "/hosts/demo/disconnect",
            content=b"x",
            headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        )
        state = {h["id"]: h for h in client.get("/hosts").json()}["demo"]
        held = 400 <= cross.status_code < 500 and state.get("state") != "DISCONNECTED"
        verdicts.append(
            Verdict(
                "rebinding",
                "--no-auth: cross-site text/plain POST",
                held,
                f"{cross.status_code}, demo host {state.get('state')}",
            )
        )
        json_cross = client.post(
            "/hosts/demo/disconnect",
            json={},
            headers={"Origin": "http://evil.example"},
        )
        verdicts.append(
            Verdict(
                "rebinding",
                "--no-auth: foreign Origin POST",
                json_cross.status_code == 403,
                str(json_cross.status_code),
            )
        )
    with LiveServer(work / "form") as server, server.client() as client:
        form = client.post(
            "/hosts",
            content=b"id=x&uri=test:///default",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        verdicts.append(
            Verdict(
                "rebinding",
                "form POST to a JSON route",
                form.status_code == 415,
                str(form.status_code),
            )
        )
    return verdicts


@group("secrets")
def check_secrets(work: Path) -> list[Verdict]:
    with LiveServer(work / "secrets") as server:
        assert server.process is not None
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        mode = stat.S_IMODE(server.database.stat().st_mode)
        logs = server.stdout.read_text() + server.stderr.read_text()
    return [
        Verdict("secrets", "token not in ps (--token-file)", TOKEN.encode() not in cmdline, ""),
        Verdict("secrets", "SQLite database is 0600", mode == 0o600, oct(mode)),
        Verdict("secrets", "token not in the server's output", TOKEN not in logs, ""),
    ]


def run(names: list[str]) -> int:
    """Run the named groups, print the table, return the exit code."""
    verdicts: list[Verdict] = []
    with tempfile.TemporaryDirectory(prefix="vmt-attack-") as directory:
        for name in names:
            started = time.monotonic()
            try:
                verdicts.extend(GROUPS[name](Path(directory) / name))
            except Exception as exc:
                verdicts.append(Verdict(name, "(the check itself)", False, repr(exc)[:200]))
            print(f"[{name}] done in {time.monotonic() - started:.1f} s", flush=True)
    width = max(len(v.attack) for v in verdicts)
    print(f"\n{'group':<10} {'attack':<{width}}  held  detail")
    for v in verdicts:
        print(f"{v.group:<10} {v.attack:<{width}}  {'yes ' if v.held else 'NO  '}  {v.detail}")
    failed = [v for v in verdicts if not v.held]
    print(f"\n{len(verdicts) - len(failed)} held, {len(failed)} not held")
    return 1 if failed else 0
