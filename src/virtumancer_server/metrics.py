"""``GET /metrics``: the Prometheus exposition format, rendered with prometheus_client.

The library knows nothing of Prometheus: each scrape asks it for one snapshot
(:meth:`virtumancer.Virtumancer.metrics_snapshot`, one bulk stats call per host) and a
one-shot collector here turns its :class:`~virtumancer.MetricFamily` values into
prometheus_client families. What only the web layer sees (API request latency, WebSocket
clients and the stats messages they dropped) is measured here, with prometheus_client's own
metric types; they are process-wide, like the library's counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

import falcon
import falcon.asgi
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from virtumancer import MetricFamily

__all__ = [
    "API_LATENCY",
    "CACHE_LOOKUPS",
    "WS_CLIENTS",
    "WS_DROPPED",
    "LatencyMiddleware",
    "SnapshotCollector",
    "render_metrics",
]

# ``*_created`` series would double the counters' lines for a figure no dashboard here uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

API_LATENCY: Final = Histogram(
    "virtumancer_api_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status.",
    ("method", "route", "status"),
    registry=None,
)
WS_CLIENTS: Final = Gauge(
    "virtumancer_websocket_clients",
    "WebSocket clients connected to /ws now.",
    registry=None,
)
WS_DROPPED: Final = Counter(
    "virtumancer_websocket_dropped_messages_total",
    "Stats messages replaced by a newer one before a slow /ws client could be sent them.",
    registry=None,
)
CACHE_LOOKUPS: Final = Counter(
    "virtumancer_response_cache_lookups_total",
    "Lookups in the response cache of the hot list routes, by result (hit or miss).",
    ("result",),
    registry=None,
)


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


class SnapshotCollector(Collector):
    """Yield the families of one library snapshot (made per scrape, used once)."""

    def __init__(self, families: Sequence[MetricFamily]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            labels = list(family.labelnames)
            metric: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
            if family.kind == "counter":
                metric = CounterMetricFamily(family.name, family.documentation, labels=labels)
                for sample in family.samples:
                    metric.add_metric(list(sample.labels), sample.value)
            elif family.kind == "gauge":
                metric = GaugeMetricFamily(family.name, family.documentation, labels=labels)
                for sample in family.samples:
                    metric.add_metric(list(sample.labels), sample.value)
            else:
                metric = HistogramMetricFamily(family.name, family.documentation, labels=labels)
                for sample in family.samples:
                    buckets = [(_bound(bound), count) for bound, count in sample.buckets]
                    metric.add_metric(list(sample.labels), buckets, sample.sum)
            yield metric


def render_metrics(families: Sequence[MetricFamily]) -> bytes:
    """Return the exposition text of a library snapshot plus the web layer's own metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(families))
    for own in (API_LATENCY, CACHE_LOOKUPS, WS_CLIENTS, WS_DROPPED):
        registry.register(own)
    return generate_latest(registry)


class LatencyMiddleware:
    """Observe every HTTP request's duration into :data:`API_LATENCY`.

    The route label is the matched URI template (``/api/v1/hosts/{host_id}/vms``), never
    the raw path, so the number of series stays bounded whatever clients send.
    """

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: Any,
        req_succeeded: bool,
    ) -> None:
        started: float | None = req.context.get("metrics_started")
        if started is None:
            return
        route = req.uri_template or "unmatched"
        API_LATENCY.labels(req.method, route, str(resp.status_code)).observe(
            time.perf_counter() - started
        )
