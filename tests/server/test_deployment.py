"""Running ``virtumancer serve`` as a deployment: a config file, secrets kept off the command
line and out of the logs, JSON logs, the readiness probe, and the Grafana dashboard.

Real ``virtumancer serve`` processes; a throwaway PostgreSQL cluster of this module's own
(password authentication, stopped and started again by the tests).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import click
import falcon.testing
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import _pg_bin
from tests.server.conftest import TOKEN, ServerFactory, ServerProcess, free_port
from virtumancer.testing import stop_process, wait_until_healthy
from virtumancer_server.cli import build_config, serve
from virtumancer_server.config_file import file_keys, load_config_file, merge_layers

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DASHBOARD = DOCS / "grafana" / "virtumancer.json"
_WAIT_S = 60.0  # a deadline for a broken setup, not a timing assertion
_START_S = 60.0


# --- the config file: keys, types, precedence ---------------------------------------------


def _sample(option: click.Option) -> object:
    if option.is_flag:
        return True
    if option.multiple:
        return ["/tmp"]
    if isinstance(option.type, click.Choice):
        return str(option.type.choices[-1])
    if option.type is click.INT:
        return 4000
    if option.type is click.FLOAT:
        return 2.5
    return "value"


def _toml(values: dict[str, object]) -> str:
    # json.dumps writes TOML's strings, numbers, booleans and arrays of strings.
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def test_every_serve_option_is_a_config_key_of_its_type_and_documented(tmp_path: Path) -> None:
    keys = file_keys(serve.params)
    assert {"port", "database_url_file", "token_file", "log_format", "key_dir"} <= set(keys)
    assert "config" not in keys
    for key, option in keys.items():
        path = tmp_path / f"{key}.toml"
        path.write_text(_toml({key: _sample(option)}))
        assert load_config_file(str(path), serve.params) == {key: _sample(option)}
    documented = re.findall(r"^\| `([a-z_]+)` \|", (DOCS / "configuration.md").read_text(), re.M)
    assert sorted(documented) == sorted(keys), "docs/configuration.md's table drifted"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("portt = 8000\n", "unknown key 'portt' in the config file {path}"),
        ("config = 'x.toml'\n", "unknown key 'config' in the config file {path}"),
        (
            'port = "8000"\n',
            "key 'port' in the config file {path} must be an integer, not a string",
        ),
        (
            "demo = 1\n",
            "key 'demo' in the config file {path} must be true or false, not an integer",
        ),
        ("port = true\n", "key 'port' in the config file {path} must be an integer, not a boolean"),
        ('allow_origin = "https://a"\n', "key 'allow_origin' in the config file {path} must be"),
        ('log_format = "xml"\n', "key 'log_format' in the config file {path} must be one of"),
        ("[server]\nport = 1\n", "unknown key 'server' in the config file {path}"),
        ("port = \n", "the config file {path} is not valid TOML"),
        ('token = "a-token-123"\nno_auth = true\n', "sets both 'token' and 'no_auth'"),
    ],
)
def test_a_bad_config_file_is_refused_naming_the_file_and_key(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "virtumancer.toml"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(message.format(path=path))):
        load_config_file(str(path), serve.params)


def test_a_bad_config_file_stops_serve_with_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "virtumancer.toml"
    path.write_text('token = "file-token-0123"\nport = "eighty"\n')
    result = subprocess.run(
        [sys.executable, "-m", "virtumancer_server.cli", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"key 'port' in the config file {path} must be an integer" in result.stderr
    assert "file-token-0123" not in result.stderr + result.stdout


def _resolve(
    argv: list[str], file: dict[str, object], tmp_path: Path
) -> tuple[dict[str, Any], Any]:
    """What ``serve argv`` would run with, given a config file holding ``file``."""
    path = tmp_path / "resolve.toml"
    path.write_text(_toml(file))
    ctx = serve.make_context("serve", [*argv, "--config", str(path)])
    params = dict(ctx.params)
    params.pop("config")
    merged, behind_env = merge_layers(params, ctx, load_config_file(str(path), serve.params))
    config, _generated = build_config(_Args(**merged), file=behind_env)
    return merged, config


class _Args:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def test_precedence_is_flags_then_environment_then_file_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VIRTUMANCER_DATABASE_URL", "VIRTUMANCER_DATABASE_URL_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("VIRTUMANCER_TOKEN", "VIRTUMANCER_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    url_file = tmp_path / "db-url"
    url_file.write_text("sqlite:////srv/from-url-file.db\n")
    file = {
        "port": 9001,
        "header_timeout": 3,
        "token": "file-token-0123",
        "database_url_file": str(url_file),
        "allow_origin": ["https://file.example"],
    }
    # The file over the defaults.
    params, config = _resolve([], file, tmp_path)
    assert (config.port, config.header_timeout, config.body_timeout) == (9001, 3.0, 30.0)
    assert config.token == "file-token-0123"
    assert config.database_url == "sqlite:////srv/from-url-file.db"
    assert config.allowed_origins == ("https://file.example",)
    assert params["log_format"] == "text"
    # The environment over the file.
    monkeypatch.setenv("VIRTUMANCER_DATABASE_URL", "sqlite:////srv/from-env.db")
    monkeypatch.setenv("VIRTUMANCER_TOKEN", "env-token-0123456")
    _, config = _resolve([], file, tmp_path)
    assert config.database_url == "sqlite:////srv/from-env.db"
    assert config.token == "env-token-0123456"
    # Flags over both; a flag of an exclusive group overrides the file's whole group.
    argv = ["--port", "9002", "--database", "sqlite:////srv/flag.db", "--no-auth"]
    _, config = _resolve(argv, file, tmp_path)
    assert (config.port, config.database_url) == (9002, "sqlite:////srv/flag.db")
    assert config.no_auth
    assert config.token is None
    assert config.header_timeout == 3.0  # not on the command line: the file's


def test_the_config_file_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from virtumancer_server.config import ServerConfig

    monkeypatch.setenv("VIRTUMANCER_SERVE_CONFIG", str(tmp_path / "env.toml"))
    assert ServerConfig.config_file_from_env() == str(tmp_path / "env.toml")
    assert ServerConfig.config_file_from_env("flag.toml") == "flag.toml"


def _popen_serve(
    args: list[str], workdir: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "XDG_DATA_HOME": str(workdir / "data"), "PYTHONUNBUFFERED": "1"}
    for name in ("VIRTUMANCER_TOKEN", "VIRTUMANCER_TOKEN_FILE", "VIRTUMANCER_DATABASE_URL"):
        environment.pop(name, None)
    environment.update(env or {})
    with (workdir / "stdout.txt").open("ab") as out, (workdir / "stderr.txt").open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "virtumancer_server.cli", "serve", *args],
            stdout=out,
            stderr=err,
            env=environment,
        )


def _wait_live(process: subprocess.Popen[bytes], url: str, workdir: Path) -> None:
    wait_until_healthy(url, process=process, log=workdir / "stderr.txt", within=_START_S)


@pytest.mark.libvirt
def test_serve_runs_from_a_config_file_named_by_the_environment(tmp_path: Path) -> None:
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text("config-file-token-0123\n")
    url_file = tmp_path / "database-url"
    url_file.write_text(f"sqlite:///{tmp_path / 'from-file.db'}\n")
    config = tmp_path / "virtumancer.toml"
    config.write_text(
        _toml(
            {
                "port": port,
                "token_file": str(token_file),
                "database_url_file": str(url_file),
                "demo": True,
            }
        )
    )
    process = _popen_serve([], tmp_path, env={"VIRTUMANCER_SERVE_CONFIG": str(config)})
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_live(process, url, tmp_path)
        headers = {"Authorization": "Bearer config-file-token-0123"}
        hosts = httpx.get(f"{url}/api/v1/hosts", headers=headers, timeout=30).json()
        assert [h["id"] for h in hosts] == ["demo"]
        assert httpx.get(f"{url}/api/v1/hosts", timeout=30).status_code == 401
    finally:
        stop_process(process)
    assert (tmp_path / "from-file.db").exists()


def _popen_uvicorn(port: int, workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "XDG_DATA_HOME": str(workdir / "data"), "PYTHONUNBUFFERED": "1"}
    for name in ("VIRTUMANCER_TOKEN", "VIRTUMANCER_TOKEN_FILE", "VIRTUMANCER_DATABASE_URL"):
        environment.pop(name, None)
    environment.update(env)
    args = ["-m", "uvicorn", "virtumancer_server.asgi:app", "--port", str(port)]
    with (workdir / "stdout.txt").open("ab") as out, (workdir / "stderr.txt").open("ab") as err:
        return subprocess.Popen([sys.executable, *args], stdout=out, stderr=err, env=environment)


@pytest.mark.libvirt
def test_the_asgi_entry_reads_the_config_file_under_the_environment(tmp_path: Path) -> None:
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789\n")
    url_file = tmp_path / "database-url"
    url_file.write_text(f"sqlite:///{tmp_path / 'from-file.db'}\n")
    config = tmp_path / "virtumancer.toml"
    config.write_text(
        _toml({"token_file": str(token_file), "database_url_file": str(url_file), "demo": True})
    )
    env = {"VIRTUMANCER_SERVE_CONFIG": str(config), "VIRTUMANCER_TOKEN": "env-token-0123456789"}
    process = _popen_uvicorn(port, tmp_path, env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_live(process, url, tmp_path)
        # the file's database and demo host; the environment's token over the file's
        hosts = httpx.get(
            f"{url}/api/v1/hosts",
            headers={"Authorization": "Bearer env-token-0123456789"},
            timeout=30,
        )
        assert [h["id"] for h in hosts.json()] == ["demo"]
        refused = httpx.get(
            f"{url}/api/v1/hosts",
            headers={"Authorization": "Bearer file-token-0123456789"},
            timeout=30,
        )
        assert refused.status_code == 401
    finally:
        stop_process(process)
    assert (tmp_path / "from-file.db").exists()
    assert "file-token" not in (tmp_path / "stderr.txt").read_text()


def test_the_asgi_config_puts_the_environment_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from virtumancer_server.cli import asgi_config

    config = tmp_path / "virtumancer.toml"
    values = {"token": "file-token-0123456789", "allow_origin": ["https://file.example"]}
    config.write_text(_toml({**values, "key_dir": ["/srv/keys"], "port": 9100, "demo": True}))
    monkeypatch.setenv("VIRTUMANCER_SERVE_CONFIG", str(config))
    monkeypatch.setenv("VIRTUMANCER_DATABASE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    for name in ("TOKEN", "TOKEN_FILE", "KEY_DIRS", "DEMO"):
        monkeypatch.delenv(f"VIRTUMANCER_{name}", raising=False)
    monkeypatch.setenv("VIRTUMANCER_ALLOWED_ORIGINS", "https://env.example")
    resolved = asgi_config()
    assert resolved.allowed_origins == ("https://env.example",)
    assert resolved.key_dirs == ("/srv/keys",)
    assert resolved.token == "file-token-0123456789"
    assert (resolved.port, resolved.demo) == (9100, True)  # port: the replica's name only


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"portt": 1}, "unknown key 'portt' in the config file"),
        ({"no_auth": True}, "no_auth is refused under uvicorn"),
    ],
)
def test_the_asgi_entry_refuses_a_bad_config_file(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    config = tmp_path / "virtumancer.toml"
    config.write_text(_toml(values))
    process = _popen_uvicorn(free_port(), tmp_path, {"VIRTUMANCER_SERVE_CONFIG": str(config)})
    assert process.wait(timeout=_START_S) == 2
    assert message in (tmp_path / "stderr.txt").read_text()


# --- JSON logs --------------------------------------------------------------------------


@pytest.mark.libvirt
def test_json_logs_are_one_object_per_line_with_request_fields(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(extra_args=("--log-format", "json"))
    with server.client() as http:
        assert http.get("/hosts").status_code == 200
        assert http.get("/hosts/nope/vms").status_code == 404
    # A token in a query is for WebSockets only (401 here), and is redacted in the log.
    response = httpx.get(f"{server.url}/api/v1/hosts?token={TOKEN}", timeout=30)
    assert response.status_code == 401
    server.stop()
    lines = [
        line
        for path in (server.stdout_path, server.stderr_path)
        for line in path.read_text().splitlines()
    ]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    loggers = {entry["logger"] for entry in entries}
    assert {"uvicorn.error", "uvicorn.access", "virtumancer_server.app"} <= loggers
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    by_path = {(e["method"], e["path"]): e for e in access}
    assert by_path[("GET", "/api/v1/hosts")]["status"] == 200
    assert by_path[("GET", "/api/v1/hosts/nope/vms")]["status"] == 404
    assert by_path[("GET", "/api/v1/hosts?token=REDACTED")]["status"] == 401
    assert all(e["client"].startswith("127.0.0.1:") and e["http_version"] for e in access)
    assert TOKEN not in "\n".join(lines)


def test_json_logs_refuse_a_generated_token(tmp_path: Path) -> None:
    # A generated token is printed once; in a JSON log stream that print would be a log line.
    result = subprocess.run(
        [sys.executable, "-m", "virtumancer_server.cli", "serve", "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("VIRTUMANCER_")},
    )
    assert result.returncode == 2
    assert "needs a configured token" in result.stderr


# --- readiness: SQLite, in process ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.libvirt
async def test_readiness_on_sqlite_is_ready_and_public(
    client: falcon.testing.ASGIConductor,
) -> None:
    result = await client.simulate_get("/api/v1/health/ready")
    assert result.status_code == 200
    assert result.json == {
        "ready": True,
        "mode": "single",
        "missing": [],
        "detail": [],
        "hosts_owned": None,
        "hosts_share": None,
    }
    assert result.headers["cache-control"] == "no-store"


# --- PostgreSQL with a password: secrets and readiness ------------------------------------


@attrs.define
class PgCluster:
    """A PostgreSQL cluster that wants a password over TCP; stoppable and startable."""

    base: Path
    port: int
    password: str
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres:{self.password}@127.0.0.1:{self.port}/virtumancer"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, _pg_bin("pg_ctl"), "-D", str(self.base / "data"), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-l", str(self.base / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    base = Path(tempfile.mkdtemp(prefix="vmt-pgpw-"))
    base.chmod(0o755)
    root = os.geteuid() == 0
    as_postgres = ["runuser", "-u", "postgres", "--"] if root else []
    if root:
        shutil.chown(base, "postgres")
    password = f"pw-{secrets.token_hex(12)}"
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if root:
        shutil.chown(pwfile, "postgres")
    subprocess.run(
        [
            *as_postgres,
            _pg_bin("initdb"),
            "-D",
            str(base / "data"),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        ],
        check=True,
        capture_output=True,
    )
    pwfile.unlink()
    cluster = PgCluster(base=base, port=free_port(), password=password, as_postgres=as_postgres)
    cluster.start()
    try:
        import psycopg

        admin = f"postgresql://postgres:{password}@127.0.0.1:{cluster.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute('CREATE DATABASE "virtumancer"')
        yield cluster
    finally:
        subprocess.run(
            [*as_postgres, _pg_bin("pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def _wait_until(predicate: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + _WAIT_S
    while not (result := predicate()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)
    return result


def _ready(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/health/ready", timeout=30)
    body: dict[str, Any] = response.json()
    return response.status_code, body


@pytest.mark.postgres
@pytest.mark.libvirt
def test_readiness_follows_the_database_and_secrets_stay_out_of_every_log(
    pg_cluster: PgCluster,
    tmp_path: Path,
    test_node_factory: Callable[..., Path],
) -> None:
    token = f"tok-{secrets.token_hex(16)}"
    token_file = tmp_path / "token"
    token_file.write_text(token)
    url_file = tmp_path / "database-url"
    url_file.write_text(pg_cluster.url)
    common = ["--allow-test-uris", "--test-uri-dir", tempfile.gettempdir(), "--token-file"]
    ports = [free_port(), free_port()]
    workdirs = [tmp_path / "a", tmp_path / "b"]
    for workdir in workdirs:
        workdir.mkdir()
    # Replica a: JSON logs, the URL from a file. Replica b: text logs, the URL on argv (warned).
    a = _popen_serve(
        [
            "--port",
            str(ports[0]),
            "--replica-id",
            "a",
            "--log-format",
            "json",
            "--database-url-file",
            str(url_file),
            *common,
            str(token_file),
        ],
        workdirs[0],
    )
    processes = [a]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        _wait_live(a, urls[0], workdirs[0])
        with httpx.Client(base_url=f"{urls[0]}/api/v1", headers=headers, timeout=30) as http:
            for host_id in ("ra", "rb"):
                uri = f"test://{test_node_factory(domains=1)}"
                response = http.post("/hosts", json={"id": host_id, "uri": uri})
                assert response.status_code in (200, 201), response.text
            # Requests that log: a refused token, a token in a query, an unknown object.
            assert http.get("/hosts", headers={"Authorization": "Bearer wrong-0123456"}).is_error
            assert http.get(f"/hosts?token={token}", headers={"Authorization": ""}).is_error
            assert http.get("/hosts/nope/vms").status_code == 404
        status, body = _wait_until(lambda: _ready(urls[0])[0] == 200 and _ready(urls[0]))
        assert body["mode"] == "fleet"
        assert (body["hosts_owned"], body["hosts_share"]) == (2, 2)

        # A second replica: ready once it owns its share (1 of 2 hosts).
        b = _popen_serve(
            [
                *("--port", str(ports[1]), "--replica-id", "b"),
                *("--database", pg_cluster.url, *common, str(token_file)),
            ],
            workdirs[1],
        )
        processes.append(b)
        _wait_live(b, urls[1], workdirs[1])
        status, body = _ready(urls[1])
        if status == 503:  # the other replica has not handed a host over yet
            assert body["missing"] == ["host share"], body
        status, body = _wait_until(
            lambda: all(_ready(u)[0] == 200 for u in urls) and _ready(urls[1])
        )
        assert (body["hosts_owned"], body["hosts_share"]) == (1, 1)

        # The database stops: not ready (saying why), still live; it starts: ready again.
        pg_cluster.stop()
        try:
            status, body = _ready(urls[0])
            assert status == 503
            assert body["ready"] is False
            assert body["missing"] == ["database"]
            assert httpx.get(f"{urls[0]}/api/v1/health", timeout=30).status_code == 200
        finally:
            pg_cluster.start()
        _wait_until(lambda: all(_ready(u)[0] == 200 for u in urls))
    finally:
        for process in processes:
            stop_process(process)
    outputs = {
        path.name + " of " + path.parent.name: path.read_text()
        for workdir in workdirs
        for path in (workdir / "stdout.txt", workdir / "stderr.txt")
    }
    everything = "\n".join(outputs.values())
    assert pg_cluster.password not in everything
    assert token not in everything
    assert "--database carries a password" in outputs["stderr.txt of b"]
    assert "--database carries a password" not in outputs["stderr.txt of a"]
    # Replica a's output is JSON from its first line to its last, the outage included.
    lines = outputs["stdout.txt of a"].splitlines() + outputs["stderr.txt of a"].splitlines()
    entries = [json.loads(line) for line in lines]
    assert any("database did not answer" in e["message"] for e in entries)


# --- the Grafana dashboard ----------------------------------------------------------------


def _dashboard_names() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    texts = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ] + [
        variable["query"]["query"]
        for variable in dashboard["templating"]["list"]
        if isinstance(variable.get("query"), dict)
    ]
    return {name for text in texts for name in re.findall(r"\b(?:virtumancer|libvirt)_\w+", text)}


def _scraped_names(text: str) -> set[str]:
    """Every series name a scrape can hold: a histogram's buckets, a counter's _total..."""
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
    }
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in suffixes[family.type]
    }


@pytest.mark.libvirt
def test_every_metric_of_the_grafana_dashboard_is_in_a_real_scrape(server: ServerProcess) -> None:
    with server.client() as http:  # a request, so the latency histogram has a series
        assert http.get("/hosts").status_code == 200
    response = httpx.get(f"{server.url}/metrics", headers=server.headers, timeout=30)
    assert response.status_code == 200
    used = _dashboard_names()
    assert len(used) >= 20
    missing = used - _scraped_names(response.text)
    assert not missing, f"the dashboard uses metrics the server does not expose: {missing}"
    # And the dashboard covers what the issue asked for.
    for wanted in (
        "libvirt_up",
        "virtumancer_host_connection_state",
        "virtumancer_host_reconnects_total",
        "virtumancer_event_lag_seconds_bucket",
        "virtumancer_api_request_duration_seconds_bucket",
        "virtumancer_websocket_clients",
        "virtumancer_websocket_dropped_messages_total",
        "libvirt_domain_info_cpu_time_seconds_total",
        "libvirt_domain_info_memory_usage_bytes",
        "libvirt_domain_block_stats_read_bytes_total",
        "libvirt_domain_interface_stats_receive_bytes_total",
    ):
        assert wanted in used
