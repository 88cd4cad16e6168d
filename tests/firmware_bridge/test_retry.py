"""The emulators' shared hand-over queue: in order, each item retried until taken."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from firmware_bridge.retry import RetryQueue


@dataclass
class Stats:
    delivered: int = 0
    attempts_failed: int = 0
    pending: int = 0


def test_items_go_in_order_and_a_refused_one_is_retried_before_the_next() -> None:
    refusals = {"b": 2, "c": 1}  # "b" is refused twice (once by an exception), "c" once
    tried: list[str] = []
    taken: list[str] = []
    done = threading.Event()

    def send(item: str) -> bool:
        tried.append(item)
        if refusals.get(item, 0):
            refusals[item] -= 1
            if refusals[item] == 1:
                raise ConnectionError("down")
            return False
        return True

    def delivered(item: str) -> None:
        taken.append(item)
        if len(taken) == 3:
            done.set()

    stats, stop = Stats(), threading.Event()
    q: RetryQueue[str] = RetryQueue(
        send, stats, stop, initial_s=0.001, max_s=0.004, retry_on=(ConnectionError,),
        on_delivered=delivered,
    )  # fmt: skip
    for item in "abc":
        q.put(item)
    assert stats.pending == 3
    thread = threading.Thread(target=q.run)
    thread.start()
    assert done.wait(10)
    stop.set()
    q.wake()
    thread.join(5)
    assert not thread.is_alive()
    assert taken == ["a", "b", "c"]
    assert tried == ["a", "b", "b", "b", "c", "c"]
    assert (stats.delivered, stats.attempts_failed, stats.pending) == (3, 3, 0)


def test_an_exception_not_named_for_retry_is_not_swallowed() -> None:
    stats, stop = Stats(), threading.Event()

    class Bug(Exception):
        pass

    def send(item: int) -> bool:
        raise Bug(item)

    q: RetryQueue[int] = RetryQueue(send, stats, stop, initial_s=0.001, max_s=0.001)
    q.put(1)
    with pytest.raises(Bug):  # a bug in send surfaces; it is not retried for ever
        q.run()
