"""A provider's hand-over to the shore, as both emulators model it: what the satellite network
received waits in a FIFO and is sent in order, each item retried with exponential back-off
(``initial_s`` doubling up to ``max_s``) until the shore takes it or the emulator closes —
Iridium's DirectIP (firmware_bridge/emulator.py) and Cloudloop's webhook
(firmware_bridge/emulator9704.py) both behave so."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Counters(Protocol):
    """The counters a delivery queue keeps (the emulators' stats dataclasses)."""

    delivered: int
    attempts_failed: int
    pending: int


class RetryQueue(Generic[T]):
    """Items handed to ``send`` in order; ``send`` returns False (or raises one of ``retry_on``)
    when the shore did not take the item, which is then retried after the back-off."""

    def __init__(
        self,
        send: Callable[[T], bool],
        stats: Counters,
        stop: threading.Event,
        *,
        initial_s: float,
        max_s: float,
        retry_on: tuple[type[Exception], ...] = (),
        on_delivered: Callable[[T], None] | None = None,
    ) -> None:
        self.send = send
        self.stats = stats
        self.stop = stop
        self.initial_s = initial_s
        self.max_s = max_s
        self.retry_on = retry_on
        self.on_delivered = on_delivered
        self._items: deque[T] = deque()
        self._cv = threading.Condition()

    def put(self, item: T) -> None:
        with self._cv:
            self._items.append(item)
            self.stats.pending = len(self._items)
            self._cv.notify()

    def wake(self) -> None:
        """Let :meth:`run` see that ``stop`` is set."""
        with self._cv:
            self._cv.notify_all()

    def _taken(self, item: T) -> bool:
        try:
            return self.send(item)
        except self.retry_on:
            return False

    def run(self) -> None:
        """The delivery thread's body: until ``stop`` is set."""
        backoff = self.initial_s
        while not self.stop.is_set():
            with self._cv:
                while not self._items and not self.stop.is_set():
                    self._cv.wait(0.5)
                if self.stop.is_set():
                    return
                item = self._items[0]
            if not self._taken(item):
                self.stats.attempts_failed += 1
                self.stop.wait(backoff)
                backoff = min(self.max_s, backoff * 2)
                continue
            backoff = self.initial_s
            with self._cv:
                self._items.popleft()
                self.stats.pending = len(self._items)
            if self.on_delivered is not None:
                self.on_delivered(item)
            self.stats.delivered += 1
