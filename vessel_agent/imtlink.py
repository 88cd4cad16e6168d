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
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
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

    def close(self) -> None:
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
        """MT payloads that arrived (non-blocking); the link rests after a port failure."""
        if not self.up(now):
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
