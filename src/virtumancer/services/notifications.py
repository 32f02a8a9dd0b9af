"""Fan-out of :data:`~virtumancer.models.notifications.Notification` to many subscribers.

Notifications only say "re-fetch this", so equal pending notifications are merged: a
subscriber's backlog holds each distinct notification at most once (one ``HostsChanged``
plus one ``VmsChanged`` per host), however long it stays stuck. Memory is bounded by the
number of hosts, and nothing a subscriber needs to know is ever dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio

from virtumancer.models.notifications import Notification

__all__ = ["NotificationHub", "NotificationSubscription"]


class NotificationSubscription:
    """One subscriber's pending notifications: an async iterator that merges duplicates."""

    def __init__(self) -> None:
        self._pending: dict[Notification, None] = {}
        self._wakeup = anyio.Event()
        self._closed = False

    def __repr__(self) -> str:
        return f"<NotificationSubscription {len(self._pending)} pending>"

    @property
    def pending(self) -> int:
        """How many distinct notifications wait to be read."""
        return len(self._pending)

    def _put(self, notification: Notification) -> None:
        if not self._closed:
            self._pending[notification] = None
            self._wakeup.set()

    def _close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def __aiter__(self) -> NotificationSubscription:
        return self

    async def __anext__(self) -> Notification:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
        notification = next(iter(self._pending))
        del self._pending[notification]
        return notification


class NotificationHub:
    """Publish notifications to every current subscriber, without ever blocking."""

    def __init__(self) -> None:
        self._subscribers: set[NotificationSubscription] = set()
        #: notifications published so far (for tests)
        self.published = 0

    def __repr__(self) -> str:
        return f"<NotificationHub {len(self._subscribers)} subscribers>"

    def publish(self, notification: Notification) -> None:
        """Hand ``notification`` to every subscriber (never blocks)."""
        self.published += 1
        for subscriber in self._subscribers:
            subscriber._put(notification)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[NotificationSubscription]:
        """Receive notifications published while the block runs."""
        subscription = NotificationSubscription()
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            subscription._close()

    def close(self) -> None:
        """End every subscription's iteration."""
        for subscriber in self._subscribers:
            subscriber._close()
