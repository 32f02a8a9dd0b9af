"""The library's own counters and histograms: plain Python, no Prometheus dependency.

The places where things happen (a reconnect, a bulk stats call, an inventory sync, an event
waiting in a subscriber's buffer or dropped from it) update one of the process-wide metrics
below with one call. :func:`virtumancer.services.metrics.collect_metrics` reads them, together
with the live figures of the hosts, into :class:`~virtumancer.services.metrics.MetricFamily`
values that a server renders in whatever format it serves (the Prometheus text format in
:mod:`virtumancer_server.metrics`). Importing this module costs nothing beyond the stdlib.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from typing import Final

__all__ = [
    "BULK_STATS_CALLS",
    "EVENTS_DROPPED",
    "EVENT_LAG",
    "HOST_RECONNECTS",
    "REGISTRY",
    "SYNC_DURATION",
    "Counter",
    "Histogram",
    "Registry",
]

Labels = tuple[tuple[str, str], ...]

#: Seconds; from a millisecond (an event taken at once) to a minute (a stuck sync).
DEFAULT_BUCKETS: Final = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    60.0,
)


class Counter:
    """A monotonically increasing number per label set (``inc(host="kvm1")``)."""

    kind: Final = "counter"

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to the series of ``labels`` (which must be exactly ``labelnames``)."""
        key = _key(self.labelnames, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """Return the current value of one series (0 if it was never incremented)."""
        with self._lock:
            return self._values.get(_key(self.labelnames, labels), 0.0)

    def series(self) -> list[tuple[Labels, float]]:
        """Return every series as ``(labels, value)``."""
        with self._lock:
            return list(self._values.items())


class Histogram:
    """Observations counted in cumulative buckets per label set, with their count and sum."""

    kind: Final = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...] = (),
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.buckets = tuple(sorted(buckets))
        # Per label set: a count per bucket (not cumulative; +Inf last), and the sum.
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        """Record one observation."""
        key = _key(self.labelnames, labels)
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def series(self) -> list[tuple[Labels, list[tuple[float, int]], float]]:
        """Return ``(labels, [(upper bound, cumulative count)...], sum)`` per label set.

        The last bound is ``inf``; its count is the number of observations.
        """
        with self._lock:
            result = []
            for key, counts in self._counts.items():
                running = 0
                cumulative = []
                for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                    running += count
                    cumulative.append((bound, running))
                result.append((key, cumulative, self._sums[key]))
            return result


def _key(labelnames: tuple[str, ...], labels: dict[str, str]) -> Labels:
    if set(labels) != set(labelnames):
        raise ValueError(f"labels {sorted(labels)} != {sorted(labelnames)}")
    return tuple((name, labels[name]) for name in labelnames)


class Registry:
    """The metrics of one process, in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, Counter | Histogram] = {}

    def register(self, metric: Counter | Histogram) -> None:
        """Add ``metric``; a second one of the same name is refused."""
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name!r} is already registered")
        self._metrics[metric.name] = metric

    def __iter__(self) -> Iterator[Counter | Histogram]:
        return iter(list(self._metrics.values()))


REGISTRY: Final = Registry()


def _counter(name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> Counter:
    metric = Counter(name, documentation, labelnames)
    REGISTRY.register(metric)
    return metric


def _histogram(name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> Histogram:
    metric = Histogram(name, documentation, labelnames)
    REGISTRY.register(metric)
    return metric


HOST_RECONNECTS: Final = _counter(
    "virtumancer_host_reconnects_total",
    "Automatic reconnects to a host that succeeded after the connection was lost.",
    ("host",),
)
BULK_STATS_CALLS: Final = _counter(
    "virtumancer_bulk_stats_calls_total",
    "Bulk domain statistics calls made to libvirt (one per host per sampler tick or scrape).",
    ("host",),
)
EVENT_LAG: Final = _histogram(
    "virtumancer_event_lag_seconds",
    "Time an event waited in a subscriber's buffer before the subscriber took it.",
)
EVENTS_DROPPED: Final = _counter(
    "virtumancer_events_dropped_total",
    "Events dropped from a subscriber's buffer because the subscriber fell behind.",
)
SYNC_DURATION: Final = _histogram(
    "virtumancer_sync_duration_seconds",
    "Duration of a host's inventory synchronisation.",
    ("host",),
)
