"""One snapshot of everything worth monitoring, for a ``/metrics`` scrape.

:func:`collect_metrics` makes exactly one libvirt call per connected host (the bulk stats call
the WebSocket sampler uses, :meth:`~virtumancer.pool.HostPool.bulk_stats`), whatever the number
of domains, and none for a host that is not connected. It returns format-neutral
:class:`MetricFamily` values: names and labels of the domain figures are those of the
libvirt Prometheus exporters (``libvirt_domain_info_cpu_time_seconds_total`` ...,
``libvirt_up``) plus a ``host`` label, since one Virtumancer serves many hosts; Virtumancer's
own figures (host connection state, reconnects, event lag, sync durations) are named
``virtumancer_*``. The library has no Prometheus dependency: a server renders the families in
the exposition format (see :mod:`virtumancer_server.metrics`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Final, Literal, TypeVar

import anyio
import attrs

from virtumancer import _metrics
from virtumancer.exceptions import VirtumancerError
from virtumancer.models.events import ConnectionState
from virtumancer.models.stats import DiskStats, DomainStatsSample, InterfaceStats

if TYPE_CHECKING:
    from virtumancer.pool import ConnectionPool, HostPool

__all__ = ["MetricFamily", "MetricSample", "collect_metrics"]

MetricKind = Literal["counter", "gauge", "histogram"]


@attrs.frozen(kw_only=True)
class MetricSample:
    """One series of a family: its label values, and a value or histogram buckets."""

    labels: tuple[str, ...]
    value: float = 0.0
    #: Histograms only: ``(upper bound, cumulative count)``, the last bound ``inf``.
    buckets: tuple[tuple[float, int], ...] = ()
    #: Histograms only: the sum of the observations.
    sum: float = 0.0


@attrs.frozen(kw_only=True)
class MetricFamily:
    """A metric: its name (counters end in ``_total``), kind, help text and series."""

    name: str
    kind: MetricKind
    documentation: str
    labelnames: tuple[str, ...] = ()
    samples: tuple[MetricSample, ...] = ()


_DOMAIN: Final = ("host", "domain", "uuid")
_DEVICE: Final = (*_DOMAIN, "target_device")

#: (name, kind, help, value of a sample) of the per-domain figures.
_DOMAIN_FIGURES: Final[
    tuple[tuple[str, MetricKind, str, Callable[[DomainStatsSample], float]], ...]
] = (
    (
        "libvirt_domain_info_cpu_time_seconds_total",
        "counter",
        "Amount of CPU time used by the domain, in seconds.",
        lambda s: s.cpu_time_ns / 1e9,
    ),
    (
        "libvirt_domain_info_maximum_memory_bytes",
        "gauge",
        "Maximum allowed memory of the domain, in bytes.",
        lambda s: s.max_memory_bytes,
    ),
    (
        "libvirt_domain_info_memory_usage_bytes",
        "gauge",
        "Memory usage of the domain, in bytes.",
        lambda s: s.memory_bytes,
    ),
    (
        "libvirt_domain_info_virtual_cpus",
        "gauge",
        "Number of virtual CPUs for the domain.",
        lambda s: s.vcpus,
    ),
    (
        "libvirt_domain_info_vstate",
        "gauge",
        "Virtual domain state (libvirt's virDomainState: 1 running, 3 paused, 5 shut off ...).",
        lambda s: int(s.state),
    ),
)

_DISK_FIGURES: Final[tuple[tuple[str, str, Callable[[DiskStats], float]], ...]] = (
    (
        "libvirt_domain_block_stats_read_bytes_total",
        "Bytes read from a block device.",
        lambda d: d.read_bytes,
    ),
    (
        "libvirt_domain_block_stats_read_requests_total",
        "Read requests from a block device.",
        lambda d: d.read_requests,
    ),
    (
        "libvirt_domain_block_stats_write_bytes_total",
        "Bytes written to a block device.",
        lambda d: d.write_bytes,
    ),
    (
        "libvirt_domain_block_stats_write_requests_total",
        "Write requests to a block device.",
        lambda d: d.write_requests,
    ),
)

_NIC_FIGURES: Final[tuple[tuple[str, str, Callable[[InterfaceStats], float]], ...]] = (
    (
        "libvirt_domain_interface_stats_receive_bytes_total",
        "Bytes received on a network interface.",
        lambda n: n.rx_bytes,
    ),
    (
        "libvirt_domain_interface_stats_receive_packets_total",
        "Packets received on a network interface.",
        lambda n: n.rx_packets,
    ),
    (
        "libvirt_domain_interface_stats_transmit_bytes_total",
        "Bytes transmitted on a network interface.",
        lambda n: n.tx_bytes,
    ),
    (
        "libvirt_domain_interface_stats_transmit_packets_total",
        "Packets transmitted on a network interface.",
        lambda n: n.tx_packets,
    ),
)


@attrs.define
class _HostScrape:
    host_id: str
    state: ConnectionState
    samples: list[DomainStatsSample] | None = None
    seconds: float | None = None


async def _scrape(host: HostPool, result: _HostScrape) -> None:
    if host.state is not ConnectionState.CONNECTED:
        return
    started = time.perf_counter()
    try:
        result.samples = await host.bulk_stats()
    except VirtumancerError:
        return  # libvirt_up says so; the state family says why it may be
    result.seconds = time.perf_counter() - started


_Device = TypeVar("_Device", bound=DiskStats | InterfaceStats)


def _domain_labels(host_id: str, sample: DomainStatsSample) -> tuple[str, ...]:
    return (host_id, sample.domain_name, sample.domain_uuid)


def _device_families(
    pairs: Sequence[tuple[str, DomainStatsSample]],
    figures: Iterable[tuple[str, str, Callable[[_Device], float]]],
    devices: Callable[[DomainStatsSample], Iterable[_Device]],
) -> list[MetricFamily]:
    """Return a counter family per figure, with a series per device of every domain."""
    return [
        MetricFamily(
            name=name,
            kind="counter",
            documentation=doc,
            labelnames=_DEVICE,
            samples=tuple(
                MetricSample(
                    labels=(*_domain_labels(h, s), device.device), value=float(read(device))
                )
                for h, s in pairs
                for device in devices(s)
            ),
        )
        for name, doc, read in figures
    ]


def _domain_families(scrapes: Iterable[_HostScrape]) -> list[MetricFamily]:
    pairs = [(s.host_id, sample) for s in scrapes for sample in s.samples or ()]

    families = [
        MetricFamily(
            name=name,
            kind=kind,
            documentation=doc,
            labelnames=_DOMAIN,
            samples=tuple(
                MetricSample(labels=_domain_labels(h, s), value=float(read(s))) for h, s in pairs
            ),
        )
        for name, kind, doc, read in _DOMAIN_FIGURES
    ]
    families += _device_families(pairs, _DISK_FIGURES, lambda s: s.disks)
    families += _device_families(pairs, _NIC_FIGURES, lambda s: s.interfaces)
    return families


def _host_families(scrapes: list[_HostScrape]) -> list[MetricFamily]:
    return [
        MetricFamily(
            name="libvirt_up",
            kind="gauge",
            documentation="Whether scraping libvirt's metrics was successful (1) or not (0).",
            labelnames=("host",),
            samples=tuple(
                MetricSample(labels=(s.host_id,), value=float(s.samples is not None))
                for s in scrapes
            ),
        ),
        MetricFamily(
            name="virtumancer_host_connection_state",
            kind="gauge",
            documentation="The connection state of a host: 1 for its current state, else 0.",
            labelnames=("host", "state"),
            samples=tuple(
                MetricSample(labels=(s.host_id, state.value), value=float(s.state is state))
                for s in scrapes
                for state in ConnectionState
            ),
        ),
        MetricFamily(
            name="virtumancer_bulk_stats_duration_seconds",
            kind="gauge",
            documentation="Duration of this scrape's bulk stats call to the host.",
            labelnames=("host",),
            samples=tuple(
                MetricSample(labels=(s.host_id,), value=s.seconds)
                for s in scrapes
                if s.seconds is not None
            ),
        ),
    ]


def library_families() -> list[MetricFamily]:
    """Return the library's own counters and histograms as they are now."""
    families: list[MetricFamily] = []
    for metric in _metrics.REGISTRY:
        if isinstance(metric, _metrics.Counter):
            samples = tuple(
                MetricSample(labels=tuple(v for _, v in labels), value=value)
                for labels, value in metric.series()
            )
            kind: MetricKind = "counter"
        else:
            samples = tuple(
                MetricSample(labels=tuple(v for _, v in labels), buckets=tuple(buckets), sum=total)
                for labels, buckets, total in metric.series()
            )
            kind = "histogram"
        families.append(
            MetricFamily(
                name=metric.name,
                kind=kind,
                documentation=metric.documentation,
                labelnames=metric.labelnames,
                samples=samples,
            )
        )
    return families


async def collect_metrics(pool: ConnectionPool) -> list[MetricFamily]:
    """Return every metric family now: one bulk stats call per connected host, in parallel.

    A host whose call fails, or that is not connected, has ``libvirt_up 0`` and no domain
    series; the scrape itself never fails because of a host.
    """
    hosts = pool.hosts()
    scrapes = [_HostScrape(host_id=host.host_id, state=host.state) for host in hosts]
    async with anyio.create_task_group() as tg:
        for host, scrape in zip(hosts, scrapes, strict=True):
            tg.start_soon(_scrape, host, scrape)
    return [*_host_families(scrapes), *_domain_families(scrapes), *library_families()]
