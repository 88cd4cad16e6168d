"""Sending frames over a broadband window (Starlink, 4G, Wi-Fi in port), when one is up.

The agent posts the very messages it would put on the satellite modem — signed, sealed — in
frames of up to 100,000 bytes (many messages under one signature, wire format §1.1), one per
request to the gateway's ``POST /ingest/frames`` (``docs/gateway.md``). No
credentials travel: the gateway knows the vessel by each frame's signature. Crew words are
sealed inside the frame, so nothing readable crosses the ship's network or the internet (HTTPS
is still recommended for privacy of traffic metadata).

Downlinks come back the same way: the gateway's answer carries the vessel's acks and queued
messages as downlink frames (up to 100,000 bytes each), which :meth:`BroadbandLink.take` hands
to the agent; the agent polls by posting a heartbeat every ``poll_s`` while it has nothing else
to send.

The link is optional and never required. :class:`BroadbandLink` reports a failed post (no route,
refused, time-out, a 5xx) so the agent falls back to the satellite modem and probes again after
``retry_s``; a frame the gateway refused (4xx) is not retried on this link.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


class PostResult(enum.Enum):
    """What became of one frame posted to the gateway."""

    STORED = "stored"  # durable ashore (new or a duplicate)
    REFUSED = "refused"  # the gateway answered 4xx: this frame will never be taken this way
    DOWN = "down"  # no answer, or 5xx: the link (or the gateway) is not usable now


@dataclass(slots=True)
class BroadbandLink:
    """The gateway URL a vessel posts frames to while it has an IP link."""

    url: str  # e.g. https://gateway.example/ingest/frames
    timeout_s: float = 10.0
    retry_s: float = 300.0  # after a failure, how long the agent uses the modem only
    poll_s: float = 600.0  # while up with nothing to send, a heartbeat fetches downlinks
    down_until: float = 0.0
    last_error: str = ""
    sent: int = 0
    received: int = 0
    next_poll: float = 0.0
    _inbox: list[bytes] = field(default_factory=list, repr=False)

    def up(self, now: float) -> bool:
        """Whether to try this link at ``now`` (not within ``retry_s`` of a failure)."""
        return now >= self.down_until

    def take(self) -> list[bytes]:
        """Downlink frames the gateway answered with since the last call (unverified: the
        agent checks each one's shore signature like any downlink)."""
        out, self._inbox = self._inbox, []
        return out

    def post(self, frame: bytes, now: float) -> PostResult:
        """Post one frame; on ``DOWN`` the link rests for ``retry_s``."""
        # Imported on first use: httpx (with ssl) adds ~18 MB to the agent's RSS, and most
        # vessels have no broadband window at all.
        import httpx

        try:
            reply = httpx.post(
                self.url,
                content=frame,
                timeout=self.timeout_s,
                headers={"Content-Type": "application/octet-stream"},
            )
        except (httpx.HTTPError, OSError) as exc:
            return self._down(now, type(exc).__name__)
        if reply.status_code == 200:
            self.sent += 1
            self.next_poll = now + self.poll_s
            self._answer(reply)
            return PostResult.STORED
        if 400 <= reply.status_code < 500 and reply.status_code not in (408, 429):
            self.last_error = f"HTTP {reply.status_code}"
            return PostResult.REFUSED
        return self._down(now, f"HTTP {reply.status_code}")

    def _answer(self, reply: httpx.Response) -> None:
        try:
            items = reply.json().get("downlink", [])
            frames = [base64.b64decode(d, validate=True) for d in items if isinstance(d, str)]
        except (ValueError, AttributeError, binascii.Error):
            self.last_error = "unreadable answer"
            return
        self.received += len(frames)
        self._inbox.extend(frames)

    def _down(self, now: float, why: str) -> PostResult:
        self.last_error = why
        self.down_until = now + self.retry_s
        return PostResult.DOWN
