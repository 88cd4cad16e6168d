"""A RockBLOCK 9704 (Iridium Messaging Transport) as one of the agent's links.

Where an SBD session carries one ≤ 340-byte frame, one IMT message carries one frame of up to
100,000 bytes: the agent packs its due messages into it under one signature (fragmented
messages whole; ``protocol/links.py``, wire format §1.1) and sends it with
:class:`firmware_bridge.imt_driver.IMTDriver`; the provider's webhook brings it to the gateway's
``POST /ingest/cloudloop``. MT messages (downlinks) arrive unsolicited, one downlink frame of up
to 100,000 bytes each.

The modem is opened (and put through the JSPR start-up) on first use and again after a failure;
:meth:`IMTLink.send` reports ``STORED`` for ``mo_ack_received`` and ``DOWN`` for anything else —
the frames then stay due for the other links, and this one rests for ``retry_s``.

A 100,000-byte message is about two minutes on air, so the agent does not wait for it:
:meth:`IMTLink.start` sends a step's frames on a worker thread (the one thread that touches the
modem while a send is on) and :meth:`IMTLink.collect` hands the outcomes back to a later step;
meanwhile the agent runs on, and its other links carry whatever is due.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from firmware_bridge.errors import BridgeError, TransferFailed
from firmware_bridge.imt_driver import IMTDriver
from firmware_bridge.jspr import MAX_MESSAGE, RAW_TOPIC
from vessel_agent.broadband import PostResult


def open_imt(url: str, timeout_s: float) -> IMTDriver:
    return IMTDriver.open(url, timeout_s=timeout_s)


@dataclass(slots=True)
class IMTLink:
    """One RockBLOCK 9704 on a serial port."""

    url: str
    topic: int = RAW_TOPIC
    timeout_s: float = 5.0
    send_timeout_s: float = 300.0  # a 100 kB message takes about two minutes on air
    retry_s: float = 120.0
    limit: int = MAX_MESSAGE
    factory: Callable[[str, float], IMTDriver] = open_imt
    down_until: float = 0.0
    last_error: str = ""
    sent: int = 0
    signal: int | None = None
    _driver: IMTDriver | None = field(default=None, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _job: Future[list[PostResult]] | None = field(default=None, repr=False)

    def up(self, now: float) -> bool:
        return now >= self.down_until

    def _open(self) -> IMTDriver:
        if self._driver is None:
            driver = self.factory(self.url, self.timeout_s)
            try:
                driver.begin()
            except BaseException:
                driver.close()
                raise
            self._driver = driver
        return self._driver

    def start(self, frames: Sequence[bytes], clock: Callable[[], float]) -> None:
        """Send ``frames`` one IMT message each, in order, on the worker thread; stop at the
        first that fails. The outcomes come back from :meth:`collect`."""
        if self.busy():
            raise RuntimeError("an IMT send is already on")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imt")
        self._job = self._pool.submit(self._send_all, list(frames), clock)

    def _send_all(self, frames: list[bytes], clock: Callable[[], float]) -> list[PostResult]:
        out: list[PostResult] = []
        for data in frames:
            out.append(self.send(data, clock()))
            if out[-1] is not PostResult.STORED:
                break
        return out

    def busy(self) -> bool:
        """Whether a send started by :meth:`start` has not been collected yet."""
        return self._job is not None

    def collect(self, now: float) -> list[PostResult] | None:
        """The outcomes of the frames :meth:`start` was given, once the send is over (one per
        frame tried, the last one not ``STORED`` when it stopped early); ``None`` while it is
        still on, or when nothing was started."""
        job = self._job
        if job is None or not job.done():
            return None
        self._job = None
        try:
            return job.result()
        except Exception as exc:  # the worker must never take the agent down
            self.close()
            self._down(now, type(exc).__name__)
            return []

    def wait(self, timeout_s: float) -> bool:
        """Block until the send in progress is over (tests, shutdown); True when it is."""
        job = self._job
        if job is None:
            return True
        with contextlib.suppress(Exception):
            job.exception(timeout=timeout_s)
        return job.done()

    def close(self) -> None:
        if self._pool is not None and self._job is not None and not self._job.done():
            self._pool.shutdown(wait=False, cancel_futures=True)  # its send fails: frames stay due
            self._pool = None
        if self._driver is not None:
            with contextlib.suppress(BridgeError, OSError):
                self._driver.close()
            self._driver = None

    def _down(self, now: float, why: str) -> PostResult:
        self.last_error = why
        self.down_until = now + self.retry_s
        return PostResult.DOWN

    def send(self, data: bytes, now: float) -> PostResult:
        """Send one frame as one IMT message."""
        try:
            driver = self._open()
            self.signal = driver.signal()
            if self.signal == 0:
                return self._down(now, "no signal")
            driver.send(data, topic=self.topic, timeout_s=self.send_timeout_s)
        except TransferFailed as exc:
            return self._down(now, exc.status)
        except BridgeError as exc:
            self.close()
            return self._down(now, type(exc).__name__)
        self.sent += 1
        return PostResult.STORED

    def receive(self, now: float) -> list[bytes]:
        """MT payloads that arrived (non-blocking; none while a send is on — the worker owns the
        modem then); the link rests after a port failure."""
        if not self.up(now) or self.busy():
            return []
        out: list[bytes] = []
        try:
            driver = self._open()
            while (message := driver.receive(timeout_s=0.0)) is not None:
                out.append(message.payload)
        except BridgeError as exc:
            self.close()
            self._down(now, type(exc).__name__)
        return out
