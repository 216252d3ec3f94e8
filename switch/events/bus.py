"""A minimal in-process publish/subscribe bus.

Deliberately small: subscribers are plain callables run synchronously, in subscription order,
on the publisher's thread (the node's event loop). A subscriber that raises is logged and
counted, never allowed to break the publisher or the other subscribers. The full metrics layer
(CloudEvents envelope, bounded queues per sink, spooling, MQTT/Redis/webhook sinks; design §3)
is a later issue and will sit behind this same ``publish``/``subscribe`` pair.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[object], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.published = 0
        self.subscriber_errors = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback`` for every event; returns a function that unsubscribes it."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: object) -> None:
        self.published += 1
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                self.subscriber_errors += 1
                log.exception("event subscriber %r failed on %s", callback,
                              type(event).__name__)
