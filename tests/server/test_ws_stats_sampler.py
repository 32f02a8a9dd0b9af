"""StatsSampler against a real ConnectionPool on libvirt's test driver through libvirtd.

The pool given to the sampler is wrapped so every call the sampler makes to a host is counted;
each HostPool method is exactly one libvirt RPC, so these are libvirt calls.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from virtumancer.exceptions import NotFoundError
from virtumancer.models.settings import MetricsSettings
from virtumancer.pool import ConnectionPool, HostPool
from virtumancer.services.stats import StatsSampler, StatsUpdate

pytestmark = [pytest.mark.libvirt, pytest.mark.anyio]

NodeFactory = Callable[..., Path]


class CountingHost:
    """Forward to a real HostPool, counting calls by method name."""

    def __init__(
        self, host: HostPool, calls: collections.Counter[str], results: list[tuple[str, Any]]
    ) -> None:
        self._host = host
        self._calls = calls
        self._results = results

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._host, name)
        if not callable(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            result = await attr(*args, **kwargs)
            self._results.append((name, result))
            return result

        return counted


class CountingPool:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.calls: collections.Counter[str] = collections.Counter()
        self.results: list[tuple[str, Any]] = []

    def get(self, host_id: str) -> CountingHost:
        return CountingHost(self.pool.get(host_id), self.calls, self.results)


class Collector:
    def __init__(self) -> None:
        self.updates: list[StatsUpdate] = []
        self.changed = anyio.Event()

    def __call__(self, update: StatsUpdate) -> None:
        self.updates.append(update)
        self.changed.set()

    async def wait_for(self, predicate: Callable[[list[StatsUpdate]], bool]) -> None:
        with anyio.fail_after(60):
            while not predicate(self.updates):
                self.changed = anyio.Event()
                await self.changed.wait()


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    async with ConnectionPool(allow_test_uris=True) as pool:
        yield pool


def _names(count: int) -> list[str]:
    return [f"guest-{n:04d}" for n in range(count)]


@pytest.mark.parametrize("subscribed", [1, 10, 500])
async def test_one_bulk_call_per_host_per_tick_whatever_the_number_of_vms(
    pool: ConnectionPool, test_node_factory: NodeFactory, libvirtd: str, subscribed: int
) -> None:
    node = test_node_factory(domains=max(subscribed, 10) + 5, running=max(subscribed, 10) + 5)
    await pool.add_host("h1", f"test+unix://{node}")
    counting = CountingPool(pool)
    collector = Collector()
    async with StatsSampler(counting, 0.5) as sampler:
        subscriptions = [
            await sampler.subscribe("h1", name, collector) for name in _names(subscribed)
        ]
        assert sum(1 for s in subscriptions if not s.closed) == subscribed
        # Each VM was looked up once, when subscribed.
        assert counting.calls["get_domain"] == subscribed
        # Once the last VM has had a sample, every later tick covers all of them.
        last = _names(subscribed)[-1]
        await collector.wait_for(lambda u: any(x.vm_name == last for x in u))
        counting.results.clear()
        collector.updates.clear()
        await collector.wait_for(lambda u: len(u) >= 4 * subscribed)
        for subscription in subscriptions:
            subscription.close()

    # Every call the sampler made after subscribing was one bulk call returning every
    # subscribed VM: one libvirt call per host per tick, whatever the number of VMs.
    assert len(counting.results) >= 4
    for name, samples in counting.results:
        assert name == "bulk_stats"
        assert sorted(s.domain_name for s in samples) == _names(subscribed)
        assert len({s.timestamp_ns for s in samples}) == 1
    # and every VM's subscriber got its sample of each tick
    per_vm = collections.Counter(u.vm_name for u in collector.updates)
    assert set(per_vm) == set(_names(subscribed))


async def test_subscriptions_are_reference_counted_and_polling_stops_with_the_last(
    pool: ConnectionPool, test_unix_uri: str
) -> None:
    await pool.add_host("h1", test_unix_uri)
    first, second = Collector(), Collector()
    async with StatsSampler(pool, 0.5) as sampler:
        a = await sampler.subscribe("h1", "guest-0000", first)
        b = await sampler.subscribe("h1", "guest-0000", second)
        assert sampler.subscriber_count("h1", "guest-0000") == 2
        await first.wait_for(lambda u: len(u) >= 1)
        await second.wait_for(lambda u: len(u) >= 1)

        a.close()
        a.close()  # idempotent
        assert sampler.subscriber_count("h1", "guest-0000") == 1
        assert sampler.subscribed() == {"h1": ["guest-0000"]}
        count = len(second.updates)
        await second.wait_for(lambda u: len(u) > count)  # still polled for the other one

        b.close()
        assert sampler.subscriber_count("h1", "guest-0000") == 0
        assert sampler.subscribed() == {}
        assert "hosts: 0" in repr(sampler)


async def test_updates_carry_stats_and_rates_after_the_first(
    pool: ConnectionPool, test_unix_uri: str
) -> None:
    await pool.add_host("h1", test_unix_uri)
    collector = Collector()

    async def settings() -> MetricsSettings:
        return MetricsSettings(stats_interval_seconds=0.5)

    async with StatsSampler(pool, settings) as sampler:
        subscription = await sampler.subscribe("h1", "guest-0001", collector)
        async with subscription:
            await collector.wait_for(lambda u: len(u) >= 2)
        assert subscription.closed
    first, second = collector.updates[:2]
    assert (first.host_id, first.vm_name) == ("h1", "guest-0001")
    assert first.rates is None
    assert second.rates is not None
    assert second.rates.interval_s > 0
    assert first.sample.state == 1


async def test_unknown_vm_or_host_is_refused_and_nothing_is_polled(
    pool: ConnectionPool, test_unix_uri: str
) -> None:
    await pool.add_host("h1", test_unix_uri)
    async with StatsSampler(pool, 0.5) as sampler:
        with pytest.raises(NotFoundError):
            await sampler.subscribe("h1", "no-such-vm", Collector())
        with pytest.raises(NotFoundError):
            await sampler.subscribe("no-such-host", "guest-0000", Collector())
        assert sampler.subscribed() == {}


async def test_a_failing_sink_does_not_starve_the_others(
    pool: ConnectionPool, test_unix_uri: str
) -> None:
    await pool.add_host("h1", test_unix_uri)
    good = Collector()

    def broken(update: StatsUpdate) -> None:
        raise RuntimeError("boom")

    async with StatsSampler(pool, 0.5) as sampler:
        await sampler.subscribe("h1", "guest-0000", broken)
        await sampler.subscribe("h1", "guest-0000", good)
        await good.wait_for(lambda u: len(u) >= 2)


async def test_subscribing_before_the_sampler_runs_is_an_error(pool: ConnectionPool) -> None:
    sampler = StatsSampler(pool)
    with pytest.raises(RuntimeError, match="async with"):
        await sampler.subscribe("h1", "guest-0000", Collector())


async def test_figures_the_driver_does_not_report_come_from_the_definition(
    pool: ConnectionPool, test_unix_uri: str
) -> None:
    # libvirt's test driver (the demo host) reports no balloon or vcpu stats: a user would
    # otherwise see 0 B of memory and 0 vCPUs for a running guest.
    await pool.add_host("h1", test_unix_uri)
    defined = await pool.get("h1").get_domain("guest-0001")
    collector = Collector()
    async with StatsSampler(pool, 0.5) as sampler:
        subscription = await sampler.subscribe("h1", "guest-0001", collector)
        await collector.wait_for(lambda u: len(u) >= 1)
        subscription.close()
    sample = collector.updates[0].sample
    assert sample.max_memory_bytes == defined.memory_bytes > 0
    assert sample.memory_bytes == defined.current_memory_bytes > 0
    assert sample.vcpus == defined.vcpus > 0
