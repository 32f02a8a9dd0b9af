"""``GET /metrics`` as Prometheus scrapes it: a real ``virtumancer serve``, parsed by
prometheus_client's own parser."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

import virtumancer
from tests.server.conftest import TOKEN, ServerFactory, ServerProcess

pytestmark = pytest.mark.libvirt

METRICS_TOKEN = "metrics-only-0123456789"
DEMO_DOMAINS = 6

EXPORTER_DOMAIN_FAMILIES = (
    "libvirt_domain_info_cpu_time_seconds",  # the parser drops a counter's _total
    "libvirt_domain_info_maximum_memory_bytes",
    "libvirt_domain_info_memory_usage_bytes",
    "libvirt_domain_info_virtual_cpus",
    "libvirt_domain_info_vstate",
)
OWN_FAMILIES = {
    "libvirt_up": "gauge",
    "virtumancer_host_connection_state": "gauge",
    "virtumancer_host_reconnects": "counter",
    "virtumancer_bulk_stats_calls": "counter",
    "virtumancer_event_lag_seconds": "histogram",
    "virtumancer_events_dropped": "counter",
    "virtumancer_sync_duration_seconds": "histogram",
    "virtumancer_api_request_duration_seconds": "histogram",
    "virtumancer_websocket_clients": "gauge",
    "virtumancer_websocket_dropped_messages": "counter",
    "virtumancer_response_cache_lookups": "counter",
}


def scrape(server: ServerProcess, token: str | None = TOKEN) -> dict[str, Metric]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{server.url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, Metric], name: str, sample: str, **labels: str) -> float:
    for found in families[name].samples:
        if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
            return float(found.value)
    raise AssertionError(f"no {sample} {labels}")


@pytest.fixture
def metrics_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    token_file = tmp_path / "metrics-token"
    token_file.write_text(METRICS_TOKEN + "\n")
    return server_factory(extra_args=("--metrics-token-file", str(token_file)))


def test_the_exporters_names_and_our_own(metrics_server: ServerProcess) -> None:
    with metrics_server.client() as client:  # a request, so the latency histogram has one
        assert client.get("/hosts").status_code == 200
        for _ in range(2):  # a cached list route: computed once, then served from the cache
            assert client.get("/hosts/demo/vms").status_code == 200
    families = scrape(metrics_server)
    for name in EXPORTER_DOMAIN_FAMILIES:
        samples = families[name].samples
        assert len(samples) == DEMO_DOMAINS, name
        assert {s.labels["host"] for s in samples} == {"demo"}
        assert all(set(s.labels) == {"host", "domain", "uuid"} for s in samples)
    names = {s.labels["domain"] for s in families["libvirt_domain_info_vstate"].samples}
    assert {"web-01", "db-01"} <= names
    for name, kind in OWN_FAMILIES.items():
        assert families[name].type == kind, name
    assert value(families, "libvirt_up", "libvirt_up", host="demo") == 1
    state = "virtumancer_host_connection_state"
    assert value(families, state, state, host="demo", state="CONNECTED") == 1
    assert value(families, state, state, host="demo", state="ERROR") == 0
    latency = "virtumancer_api_request_duration_seconds"
    assert (
        value(
            families,
            latency,
            f"{latency}_count",
            method="GET",
            route="/api/v1/hosts",
            status="200",
        )
        >= 1
    )
    lookups = "virtumancer_response_cache_lookups"
    assert value(families, lookups, f"{lookups}_total", result="hit") >= 1
    assert value(families, lookups, f"{lookups}_total", result="miss") >= 1
    # The demo was synced once at start: its duration was recorded.
    sync = "virtumancer_sync_duration_seconds"
    assert value(families, sync, f"{sync}_count", host="demo") >= 1


def test_one_scrape_costs_one_bulk_stats_call_per_host(
    metrics_server: ServerProcess, test_unix_uri: str
) -> None:
    with metrics_server.client() as client:
        added = client.post("/hosts", json={"id": "big", "uri": test_unix_uri})
        assert added.status_code in (200, 201), added.text
    calls = "virtumancer_bulk_stats_calls"
    first = scrape(metrics_server)
    second = scrape(metrics_server)
    for host in ("demo", "big"):
        before = value(first, calls, f"{calls}_total", host=host)
        after = value(second, calls, f"{calls}_total", host=host)
        assert after - before == 1, host
    vstate = second["libvirt_domain_info_vstate"].samples
    assert sum(1 for s in vstate if s.labels["host"] == "big") == 10


def test_who_may_scrape(metrics_server: ServerProcess) -> None:
    url = metrics_server.url
    assert httpx.get(f"{url}/metrics").status_code == 401
    wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert scrape(metrics_server, METRICS_TOKEN)["libvirt_up"].samples
    # The metrics token reads /metrics and nothing else.
    only = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert httpx.get(f"{url}/api/v1/hosts", headers=only).status_code == 401
    assert httpx.get(f"{url}/api/v1/openapi.json", headers=only).status_code == 401


def test_metrics_open_on_loopback(server_factory: ServerFactory) -> None:
    server = server_factory(extra_args=("--metrics-open",))
    assert scrape(server, token=None)["libvirt_up"].samples
    assert httpx.get(f"{server.url}/api/v1/hosts").status_code == 401


def test_metrics_open_is_refused_off_loopback(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "virtumancer_server.cli", "serve", "--metrics-open"),
            *("--host", "0.0.0.0", "--port", "1", "--token", TOKEN),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--metrics-open is refused" in result.stderr


def test_collect_metrics_calls_nothing_on_a_host_that_is_down(test_uri: str) -> None:
    async def main() -> list[virtumancer.MetricFamily]:
        async with virtumancer.ConnectionPool() as pool:
            await pool.add_host("up", test_uri)
            down = await pool.add_host("down", "test:///default")
            await down.disconnect()
            return await virtumancer.collect_metrics(pool)

    families = {family.name: family for family in anyio.run(main)}
    up = {s.labels[0]: s.value for s in families["libvirt_up"].samples}
    assert up == {"up": 1.0, "down": 0.0}
    vstate = families["libvirt_domain_info_vstate"].samples
    assert {s.labels[0] for s in vstate} == {"up"}
    assert len(vstate) == 10
