"""Fan-out to many subscribers that never blocks the publisher.

A :class:`Hub` hands every published item to each current :class:`Subscription`; a
subscription keeps what its reader has not taken yet in a buffer whose policy decides what
a reader that falls behind loses: :class:`DropOldestBuffer` (bounded, the oldest go and are
counted) or :class:`CoalescingBuffer` (equal pending items are kept once). Used by the
connection pool's events and the facade's notifications.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, Self, TypeVar

import anyio

from virtumancer import _metrics

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)
S = TypeVar("S", bound="Subscription[Any]")

__all__ = ["CoalescingBuffer", "DropOldestBuffer", "Hub", "Subscription"]


class Buffer(Protocol[T]):
    """What a subscription keeps between publish and read."""

    def __len__(self) -> int: ...

    def put(self, item: T) -> None:
        """Keep ``item`` (or make room for it, as the policy says)."""

    def take(self) -> T:
        """Remove and return the next item (the buffer is not empty)."""


class DropOldestBuffer(Generic[T]):
    """At most ``size`` items, first in first out; when full the oldest is dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        #: items dropped because the reader fell behind
        self.dropped = 0
        self._items: deque[T] = deque()
        # When each item was put, for the event lag metric.
        self._put_at: deque[float] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        if len(self._items) >= self.size:
            self._items.popleft()
            self._put_at.popleft()
            self.dropped += 1
            _metrics.EVENTS_DROPPED.inc()
        self._items.append(item)
        self._put_at.append(time.monotonic())

    def take(self) -> T:
        _metrics.EVENT_LAG.observe(time.monotonic() - self._put_at.popleft())
        return self._items.popleft()


class CoalescingBuffer(Generic[H]):
    """Each distinct pending item once, in the order first published."""

    def __init__(self) -> None:
        self._items: dict[H, None] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: H) -> None:
        self._items[item] = None

    def take(self) -> H:
        item = next(iter(self._items))
        del self._items[item]
        return item


class Subscription(Generic[T]):
    """One subscriber's pending items: an async iterator that ends once closed and drained."""

    def __init__(self, buffer: Buffer[T]) -> None:
        self._buffer = buffer
        self._wakeup = anyio.Event()
        self._closed = False

    def __repr__(self) -> str:
        closed = ", closed" if self._closed else ""
        return f"<{type(self).__name__} {self.pending} pending{closed}>"

    @property
    def pending(self) -> int:
        """How many items wait to be read."""
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        """Whether no more items will arrive."""
        return self._closed

    def get_nowait(self) -> T | None:
        """Return the next pending item, or ``None`` if there is none (never waits)."""
        return self._buffer.take() if len(self._buffer) else None

    def _put(self, item: T) -> None:
        if not self._closed:
            self._buffer.put(item)
            self._wakeup.set()

    def _close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        while not len(self._buffer):
            if self._closed:
                raise StopAsyncIteration
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
        return self._buffer.take()


class Hub(Generic[T, S]):
    """Publish items to every current subscription of type ``S``, without ever blocking.

    ``new_subscription`` makes the subscription :meth:`subscribe` opens when given none.
    """

    def __init__(self, new_subscription: Callable[[], S]) -> None:
        self._new_subscription = new_subscription
        self._subscribers: set[S] = set()
        #: items published so far
        self.published = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self._subscribers)} subscribers>"

    def __len__(self) -> int:
        return len(self._subscribers)

    def publish(self, item: T) -> None:
        """Hand ``item`` to every subscription (never blocks)."""
        self.published += 1
        for subscription in self._subscribers:
            subscription._put(item)

    def subscribe(self, subscription: S | None = None) -> AbstractAsyncContextManager[S]:
        """Receive the items published while the block runs (closed when it ends)."""
        if subscription is None:
            subscription = self._new_subscription()
        return self._subscribed(subscription)

    @contextlib.asynccontextmanager
    async def _subscribed(self, subscription: S) -> AsyncIterator[S]:
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            subscription._close()

    def close(self) -> None:
        """End every current subscription's iteration (after what it holds is read)."""
        for subscription in self._subscribers:
            subscription._close()
        self._subscribers.clear()
