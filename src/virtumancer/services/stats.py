"""Live statistics: one bulk stats call per host per tick for every subscribed VM.

:class:`StatsSampler` keeps a reference-counted set of subscriptions, keyed by
``(host_id, vm_name)``. A host with at least one subscribed VM has one polling task; each tick
it makes exactly one :meth:`HostPool.bulk_stats` call for all of that host's subscribed VMs,
computes rates against the previous sample of each VM and hands a :class:`StatsUpdate` to each
subscriber's sink. When the last subscription of a host closes, its polling task is cancelled.

Sinks are plain callables that must not block: the WebSocket layer stores only the newest
update per VM (older ones are overwritten), so a slow client never makes memory grow.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Collection, Sequence
from types import TracebackType
from typing import Protocol, Self

import anyio
import anyio.abc
import attrs

from virtumancer._logging import get_logger
from virtumancer.exceptions import VirtumancerError
from virtumancer.models.settings import STATS_INTERVAL_RANGE, MetricsSettings
from virtumancer.models.stats import DomainRates, DomainStatsSample
from virtumancer.rates import compute_rates

__all__ = [
    "IntervalSource",
    "StatsSampler",
    "StatsSubscription",
    "StatsUpdate",
]

_log = get_logger(__name__)


class _Domain(Protocol):
    @property
    def uuid(self) -> str: ...
    @property
    def memory_bytes(self) -> int: ...
    @property
    def current_memory_bytes(self) -> int: ...
    @property
    def vcpus(self) -> int: ...
    @property
    def current_vcpus(self) -> int | None: ...


class _HostPool(Protocol):
    async def get_domain(self, name_or_uuid: str, /) -> _Domain: ...

    async def bulk_stats(
        self, domain_uuids: Collection[str] | None = None, /
    ) -> Sequence[DomainStatsSample]: ...


class _ConnectionPool(Protocol):
    def get(self, host_id: str, /) -> _HostPool: ...


IntervalSource = (
    float
    | MetricsSettings
    | Callable[[], float | MetricsSettings]
    | Callable[[], Awaitable[float | MetricsSettings]]
)
"""Where the tick interval comes from: a number of seconds, a :class:`MetricsSettings`, or a
function (sync or async) returning either; a function is read again before every tick, so a
changed ``stats_interval_seconds`` takes effect on the next tick."""


@attrs.frozen(kw_only=True)
class StatsUpdate:
    """One sample of one subscribed VM and its rates since the previous tick.

    ``rates`` is ``None`` for the first sample of a VM (there is nothing to compare with).
    """

    host_id: str
    vm_name: str
    sample: DomainStatsSample
    rates: DomainRates | None


StatsSink = Callable[[StatsUpdate], object]


@attrs.define(eq=False)
class _Target:
    host_id: str
    vm_name: str
    uuid: str | None
    defined: _Domain | None = None  # the domain as looked up: fills what bulk stats lack
    sinks: dict[int, StatsSink] = attrs.field(factory=dict)
    previous: DomainStatsSample | None = None
    missing_ticks: int = 0


@attrs.define(eq=False)
class _HostLoop:
    scope: anyio.CancelScope
    targets: dict[str, _Target] = attrs.field(factory=dict)  # by vm_name
    wake: anyio.Event = attrs.field(factory=anyio.Event)
    failure: str | None = None  # the last error, logged once rather than every tick

    def failed(self, host_id: str, error: object) -> None:
        message = str(error)
        if message != self.failure:
            _log.warning("stats of host %s: %s", host_id, message)
        self.failure = message


def _with_defined_sizes(sample: DomainStatsSample, defined: _Domain | None) -> DomainStatsSample:
    """Fill memory and vCPU figures a driver's bulk stats leave out from the definition.

    libvirt's test driver (the demo host) reports no balloon or vcpu stats at all; QEMU
    reports them for running guests. Only missing (zero) figures are filled.
    """
    if defined is None or (sample.max_memory_bytes and sample.memory_bytes and sample.vcpus):
        return sample
    return attrs.evolve(
        sample,
        memory_bytes=sample.memory_bytes or defined.current_memory_bytes,
        max_memory_bytes=sample.max_memory_bytes or defined.memory_bytes,
        vcpus=sample.vcpus or defined.current_vcpus or defined.vcpus,
    )


class StatsSubscription:
    """A handle on one subscriber's interest in one VM; :meth:`close` (idempotent) ends it.

    Also an async context manager that closes on exit.
    """

    def __init__(self, sampler: StatsSampler, host_id: str, vm_name: str, token: int) -> None:
        self.host_id = host_id
        self.vm_name = vm_name
        self._sampler = sampler
        self._token = token
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether this subscription was closed."""
        return self._closed

    def close(self) -> None:
        """Stop delivering updates to this subscriber; stops polling if it was the last."""
        if not self._closed:
            self._closed = True
            self._sampler._release(self.host_id, self.vm_name, self._token)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<StatsSubscription {self.host_id}/{self.vm_name} {state}>"


class StatsSampler:
    """Poll subscribed VMs' statistics, one bulk call per host per tick.

    Construct it as ``StatsSampler(pool, interval)`` where ``pool`` is a
    :class:`~virtumancer.pool.ConnectionPool` (anything with ``get(host_id) -> HostPool``
    whose host pools have ``get_domain`` and ``bulk_stats``) and ``interval`` is an
    :data:`IntervalSource`: seconds, a :class:`MetricsSettings`, or a (sync or async) getter of
    either, e.g. ``vm.runtime_metrics_settings``. Run it as ``async with sampler:`` (it owns
    the polling tasks and cancels them on exit), then::

        sub = await sampler.subscribe("kvm1", "web", sink)   # NotFoundError if unknown
        ...                                                   # sink(StatsUpdate) each tick
        sub.close()

    Subscriptions are reference-counted per ``(host_id, vm_name)``; the first sample of a new
    VM is taken at once, then every interval. ``sink`` must return quickly and never block.
    A failing host (unreachable, ...) is logged and retried on the next tick.
    """

    def __init__(self, pool: _ConnectionPool, interval: IntervalSource = 2.0) -> None:
        self._pool = pool
        self._interval = interval
        self._hosts: dict[str, _HostLoop] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._next_token = 0
        #: Bulk stats calls made, per host id (for tests and benchmarks).
        self.bulk_calls: dict[str, int] = {}
        #: Ticks run, per host id.
        self.ticks: dict[str, int] = {}
        # Fleet mode (set by the fleet service): only the owner of a host samples it; the
        # subscriptions of hosts owned elsewhere wait here for the updates the owner sends.
        #: Whether this process samples ``host_id`` (its owner).
        self.owns: Callable[[str], bool] = lambda _host_id: True
        #: Checks a VM of a host owned elsewhere exists (``NotFoundError`` if not).
        self.check_remote: Callable[[str, str], Awaitable[None]] | None = None
        #: Called when the set of VMs subscribed here but sampled elsewhere changes.
        self.on_remote_change: Callable[[], None] | None = None
        self._remote: dict[tuple[str, str], dict[int, StatsSink]] = {}

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        for loop in self._hosts.values():
            loop.scope.cancel()
        self._hosts.clear()
        if task_group is None:
            return None
        task_group.cancel_scope.cancel()
        return await task_group.__aexit__(exc_type, exc, tb)

    def subscribed(self) -> dict[str, list[str]]:
        """Return ``{host_id: [vm_name, ...]}`` of what is being polled now."""
        return {host: sorted(loop.targets) for host, loop in self._hosts.items()}

    def subscriber_count(self, host_id: str, vm_name: str) -> int:
        """Return how many subscriptions the VM has (0 if it is not polled)."""
        loop = self._hosts.get(host_id)
        target = loop.targets.get(vm_name) if loop else None
        return len(target.sinks) if target else 0

    async def subscribe(self, host_id: str, vm_name: str, sink: StatsSink) -> StatsSubscription:
        """Deliver ``StatsUpdate``s of one VM to ``sink`` until the subscription is closed.

        The VM is looked up once (``NotFoundError`` for an unknown host or VM,
        ``HostUnavailableError`` if the host is down); later ticks only make the bulk call.
        """
        if self._task_group is None:
            raise RuntimeError("StatsSampler is not running: use `async with sampler:`")
        if not self.owns(host_id):
            return await self._subscribe_remote(host_id, vm_name, sink)
        loop = self._hosts.get(host_id)
        target = loop.targets.get(vm_name) if loop else None
        if target is None:
            domain = await self._pool.get(host_id).get_domain(vm_name)
            # Another subscriber may have raced us through the await.
            loop = self._polling(host_id)
            target = loop.targets.get(vm_name)
            if target is None:
                target = _Target(host_id=host_id, vm_name=vm_name, uuid=domain.uuid, defined=domain)
                loop.targets[vm_name] = target
                loop.wake.set()  # sample the new VM now rather than at the next tick
        self._next_token += 1
        token = self._next_token
        target.sinks[token] = sink
        return StatsSubscription(self, host_id, vm_name, token)

    def _polling(self, host_id: str) -> _HostLoop:
        """Return the loop sampling ``host_id``, started now if there is none."""
        loop = self._hosts.get(host_id)
        if loop is None:
            if self._task_group is None:
                raise RuntimeError("StatsSampler is not running: use `async with sampler:`")
            loop = _HostLoop(scope=anyio.CancelScope())
            self._hosts[host_id] = loop
            self._task_group.start_soon(self._poll_host, host_id, loop)
        return loop

    async def _subscribe_remote(
        self, host_id: str, vm_name: str, sink: StatsSink
    ) -> StatsSubscription:
        key = (host_id, vm_name)
        if key not in self._remote and self.check_remote is not None:
            await self.check_remote(host_id, vm_name)
        self._next_token += 1
        token = self._next_token
        sinks = self._remote.setdefault(key, {})
        sinks[token] = sink
        if len(sinks) == 1 and self.on_remote_change is not None:
            self.on_remote_change()
        return StatsSubscription(self, host_id, vm_name, token)

    def remote_subscriptions(self) -> set[tuple[str, str]]:
        """Return the ``(host_id, vm_name)`` subscribed here but sampled by another owner."""
        return set(self._remote)

    def deliver_remote(self, update: StatsUpdate) -> None:
        """Hand an update the host's owner sampled to the subscribers here (fleet mode)."""
        for sink in list(self._remote.get((update.host_id, update.vm_name), {}).values()):
            try:
                sink(update)
            except Exception:  # one broken subscriber must not starve the others
                _log.exception("stats sink failed for %s/%s", update.host_id, update.vm_name)

    def rehome(self) -> None:
        """Move subscriptions between sampling here and waiting for the owner's updates,
        after this process gained or lost hosts (fleet mode)."""
        for host_id, loop in list(self._hosts.items()):
            if self.owns(host_id):
                continue
            del self._hosts[host_id]
            loop.scope.cancel()
            for vm_name, target in loop.targets.items():
                self._remote.setdefault((host_id, vm_name), {}).update(target.sinks)
        for (host_id, vm_name), sinks in list(self._remote.items()):
            if not self.owns(host_id) or self._task_group is None:
                continue
            del self._remote[(host_id, vm_name)]
            polling = self._polling(host_id)
            found = polling.targets.get(vm_name)
            if found is None:
                # Looked up by name on the first tick (a target without a UUID).
                found = _Target(host_id=host_id, vm_name=vm_name, uuid=None)
                polling.targets[vm_name] = found
            found.sinks.update(sinks)
            polling.wake.set()
        if self.on_remote_change is not None:
            self.on_remote_change()

    def _release(self, host_id: str, vm_name: str, token: int) -> None:
        remote = self._remote.get((host_id, vm_name))
        if remote is not None and token in remote:
            del remote[token]
            if not remote:
                del self._remote[(host_id, vm_name)]
                if self.on_remote_change is not None:
                    self.on_remote_change()
            return
        loop = self._hosts.get(host_id)
        if loop is None:
            return
        target = loop.targets.get(vm_name)
        if target is None:
            return
        target.sinks.pop(token, None)
        if not target.sinks:
            del loop.targets[vm_name]
        if not loop.targets:
            del self._hosts[host_id]
            loop.scope.cancel()

    async def _interval_seconds(self) -> float:
        source = self._interval
        value: object = source
        if callable(source):
            value = source()
            if inspect.isawaitable(value):
                value = await value
        if isinstance(value, MetricsSettings):
            value = value.stats_interval_seconds
        low, high = STATS_INTERVAL_RANGE
        if isinstance(value, int | float) and math.isfinite(value):
            return min(high, max(low, float(value)))
        return 2.0

    async def _poll_host(self, host_id: str, loop: _HostLoop) -> None:
        with loop.scope:
            while loop.targets:
                # A subscription arriving while the tick runs sets this event, so its first
                # sample comes right after rather than one interval later.
                loop.wake = anyio.Event()
                await self._tick(host_id, loop)
                try:
                    interval = await self._interval_seconds()
                except Exception:  # a settings read must not kill the sampler
                    _log.exception("cannot read the stats interval; using 2 s")
                    interval = 2.0
                with anyio.move_on_after(interval):
                    await loop.wake.wait()

    async def _tick(self, host_id: str, loop: _HostLoop) -> None:
        try:
            host = self._pool.get(host_id)
        except VirtumancerError as exc:  # the host was removed; its subscribers get nothing
            loop.failed(host_id, exc)
            return
        # A VM whose domain vanished (undefined, re-created) is looked up again by name, but
        # only every tenth tick so a VM that stays gone costs no call per tick.
        for target in list(loop.targets.values()):
            if target.uuid is None:
                target.missing_ticks += 1
                if target.missing_ticks % 10 != 1:
                    continue
                try:
                    target.defined = await host.get_domain(target.vm_name)
                except VirtumancerError:
                    continue
                target.uuid = target.defined.uuid
        by_uuid = {t.uuid.lower(): t for t in loop.targets.values() if t.uuid is not None}
        if not by_uuid:
            return
        self.bulk_calls[host_id] = self.bulk_calls.get(host_id, 0) + 1
        self.ticks[host_id] = self.ticks.get(host_id, 0) + 1
        try:
            samples = await host.bulk_stats(list(by_uuid))
        except VirtumancerError as exc:
            loop.failed(host_id, exc)
            return
        if loop.failure is not None:
            _log.info("stats of host %s work again", host_id)
            loop.failure = None
        seen: set[str] = set()
        for sample in samples:
            found = by_uuid.get(sample.domain_uuid.lower())
            # The target may have been unsubscribed while the call ran.
            if found is None or loop.targets.get(found.vm_name) is not found:
                continue
            seen.add(sample.domain_uuid.lower())
            found.missing_ticks = 0
            sample = _with_defined_sizes(sample, found.defined)
            previous = found.previous
            rates = compute_rates(previous, sample) if previous is not None else None
            found.previous = sample
            update = StatsUpdate(host_id=host_id, vm_name=found.vm_name, sample=sample, rates=rates)
            for sink in list(found.sinks.values()):
                try:
                    sink(update)
                except Exception:  # one broken subscriber must not starve the others
                    _log.exception("stats sink failed for %s/%s", host_id, found.vm_name)
        for uuid, missing in by_uuid.items():
            if uuid not in seen:
                missing.uuid = None
                missing.previous = None

    def __repr__(self) -> str:
        vms = sum(len(loop.targets) for loop in self._hosts.values())
        state = "running" if self._task_group is not None else "stopped"
        return f"<StatsSampler {state} hosts: {len(self._hosts)}, vms: {vms}>"
