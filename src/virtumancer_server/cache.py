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

Content coding: a client that accepts gzip (browsers, httpx, curl ``--compressed``) gets the
body gzipped, compressed once per cached body in a worker thread and kept beside it. 1,000 VMs
are ~350 kB of JSON and ~35 kB gzipped: each poll then costs the server a tenth of the bytes
to write. The bodies hold inventory only (no token, no secret), so compressing them next
to what a client sent (BREACH) reveals nothing.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import anyio.to_thread

from virtumancer_server.metrics import CACHE_LOOKUPS

__all__ = ["GZIP_MIN_BYTES", "ResponseCache", "accepts_gzip"]

#: Smaller bodies are sent as they are: under one TCP segment, gzip saves no packet.
GZIP_MIN_BYTES: Final = 1400
_GZIP_NAMES: Final = frozenset({"gzip", "x-gzip"})
_OWS: Final = " \t"  # HTTP's optional whitespace; str.strip() would take other characters too
_QVALUE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")  # RFC 9110 qvalue, ASCII only


def _weight(params: list[str]) -> float:
    """The ``q`` of one ``Accept-Encoding`` element; 0 for a malformed one (not acceptable)."""
    for param in params:
        name, _, value = param.strip(_OWS).partition("=")
        if name.strip(_OWS).lower() == "q":
            value = value.strip(_OWS)
            return float(value) if _QVALUE.fullmatch(value) else 0.0
    return 1.0


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value (RFC 9110 section 12.5.3) accepts gzip.

    ``gzip`` (or ``x-gzip``) with a weight above 0 does; so does ``*`` above 0 when gzip
    is not named. No header, ``identity``, ``gzip;q=0`` or a malformed weight does not.
    """
    if not header:
        return False
    named: float | None = None
    wildcard: float | None = None
    for element in header.split(","):
        coding, *params = element.split(";")
        coding = coding.strip(_OWS).lower()
        # the same coding named twice (a client's bug) counts at its better weight
        if coding in _GZIP_NAMES:
            named = max(named or 0.0, _weight(params))
        elif coding == "*":
            wildcard = max(wildcard or 0.0, _weight(params))
    if named is not None:
        return named > 0
    return wildcard is not None and wildcard > 0


def _compress(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)  # mtime 0: the same bytes each time


class DrainableSubscription(Protocol):
    """A notification subscription that hands out what is pending without waiting."""

    def get_nowait(self) -> object | None:
        """Return the next pending notification, or ``None`` if there is none."""


class ResponseCache:
    """Encoded response bodies keyed by route and parameters, dropped on any notification."""

    def __init__(self) -> None:
        self._subscription: DrainableSubscription | None = None
        self._bodies: dict[tuple[str, ...], bytes] = {}
        # key -> (the body, its gzip): the copy serves only the very body it was made from
        self._gzipped: dict[tuple[str, ...], tuple[bytes, bytes]] = {}
        self._generation = 0
        self.hits = 0
        self.misses = 0
        self._hit = CACHE_LOOKUPS.labels("hit")  # bound once: looked up on every request
        self._miss = CACHE_LOOKUPS.labels("miss")

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
        self._gzipped.clear()
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
        body, _ = await self._lookup(key, compute)
        return body

    async def _lookup(
        self, key: tuple[str, ...], compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, int]:
        """The body for ``key`` and the generation that was current when it was looked up."""
        self._drain()
        generation = self._generation
        body = self._bodies.get(key)
        if body is not None:
            self.hits += 1
            self._hit.inc()
            return body, generation
        self.misses += 1
        self._miss.inc()
        body = await compute()
        self._drain()
        if generation == self._generation and self._subscription is not None:
            self._bodies[key] = body
        return body, generation

    async def get_or_compute_encoded(
        self, key: tuple[str, ...], compute: Callable[[], Awaitable[bytes]], *, accept_gzip: bool
    ) -> tuple[bytes, str | None]:
        """Return ``key``'s body and its ``Content-Encoding`` (``"gzip"`` or ``None``).

        With ``accept_gzip`` the body is gzipped when it is cached and big enough to gain; the
        compressed copy is kept with the body and dropped with it.
        """
        if not accept_gzip or self._subscription is None:
            return await self.get_or_compute(key, compute), None
        body, generation = await self._lookup(key, compute)
        if len(body) < GZIP_MIN_BYTES:
            return body, None  # under one TCP segment: gzip saves no packet
        # Two misses of one generation may both store a body, the later one last: a copy
        # made from the other is not this body's.
        made_from, packed = self._gzipped.get(key, (None, b""))
        if made_from is not body:
            packed = await anyio.to_thread.run_sync(_compress, body)
            self._drain()
            if generation == self._generation and self._bodies.get(key) is body:
                self._gzipped[key] = (body, packed)
        return packed, "gzip"
