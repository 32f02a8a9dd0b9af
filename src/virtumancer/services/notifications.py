"""Fan-out of :data:`~virtumancer.models.notifications.Notification` to many subscribers.

Notifications only say "re-fetch this", so equal pending notifications are merged: a
subscriber's backlog holds each distinct notification at most once (one ``HostsChanged``
plus one ``VmsChanged`` per host), however long it stays stuck. Memory is bounded by the
number of hosts, and nothing a subscriber needs to know is ever dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from virtumancer._fanout import CoalescingBuffer, Hub, Subscription
from virtumancer.models.notifications import Notification

__all__ = ["NotificationHub", "NotificationSubscription"]


class NotificationSubscription(Subscription[Notification]):
    """One subscriber's pending notifications: an async iterator that merges duplicates.

    :attr:`pending` counts the distinct notifications waiting; :meth:`get_nowait` takes one
    without waiting.
    """

    def __init__(self) -> None:
        super().__init__(CoalescingBuffer[Notification]())


class NotificationHub(Hub[Notification, NotificationSubscription]):
    """Publish notifications to every current subscriber, without ever blocking.

    ``async with hub.subscribe() as notifications:`` receives those published meanwhile;
    :meth:`close` ends every subscription's iteration.
    """

    def __init__(self) -> None:
        super().__init__(NotificationSubscription)
        #: Called with each notification published here (fleet mode sends it to the other
        #: replicas); never with those :meth:`publish_remote` hands on.
        self.forward: Callable[[Notification], None] | None = None

    def publish(self, item: Notification) -> None:
        """Hand ``item`` to every subscription (never blocks), and forward it."""
        super().publish(item)
        if self.forward is not None:
            self.forward(item)

    def publish_remote(self, item: Notification) -> None:
        """Hand a notification another replica sent to the local subscribers only."""
        super().publish(item)
