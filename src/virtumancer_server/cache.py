"""A response cache for hot list routes, invalidated by the library's own notifications.

``GET /hosts/{id}/vms`` is what every dashboard and topology view polls, and with 1,000 VMs
the database read plus JSON encoding costs far more than sending the bytes. The facade
publishes ``HostsChanged``/``VmsChanged`` after every database write that changes what these
routes return (the same promise the WebSocket's ``vms-changed`` relies on), so the encoded
body can be kept until the next notification.

Freshness: before every lookup the pending notifications are drained *synchronously*, so a
request that starts after a write was published never sees the old body. A body computed
while a notification arrived is not stored (generation check). Without an open subscription
(the lifespan did not run) nothing is cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from virtumancer_server.metrics import CACHE_LOOKUPS

__all__ = ["ResponseCache"]


class DrainableSubscription(Protocol):
    """A notification subscription that hands out what is pending without waiting."""

    def get_nowait(self) -> object | None:
        """Return the next pending notification, or ``None`` if there is none."""


class ResponseCache:
    """Encoded response bodies keyed by route and parameters, dropped on any notification."""

    def __init__(self) -> None:
        self._subscription: DrainableSubscription | None = None
        self._bodies: dict[tuple[str, ...], bytes] = {}
        self._generation = 0
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        state = "attached" if self._subscription is not None else "detached"
        return f"<ResponseCache {state} {len(self._bodies)} bodies, {self.hits} hits>"

    def attach(self, subscription: DrainableSubscription) -> None:
        """Start caching, invalidated by ``subscription`` (from ``subscribe_notifications``)."""
        self._subscription = subscription
        self.clear()

    def detach(self) -> None:
        """Stop caching (on shutdown)."""
        self._subscription = None
        self.clear()

    def clear(self) -> None:
        """Forget every body."""
        self._bodies.clear()
        self._generation += 1

    def _drain(self) -> None:
        subscription = self._subscription
        if subscription is not None and subscription.get_nowait() is not None:
            while subscription.get_nowait() is not None:
                pass  # one change or many: every body goes
            self.clear()

    async def get_or_compute(
        self, key: tuple[str, ...], compute: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """Return the cached body for ``key``, or ``await compute()`` and keep it."""
        if self._subscription is None:
            return await compute()
        self._drain()
        body = self._bodies.get(key)
        if body is not None:
            self.hits += 1
            CACHE_LOOKUPS.labels("hit").inc()
            return body
        self.misses += 1
        CACHE_LOOKUPS.labels("miss").inc()
        generation = self._generation
        body = await compute()
        self._drain()
        if generation == self._generation and self._subscription is not None:
            self._bodies[key] = body
        return body
