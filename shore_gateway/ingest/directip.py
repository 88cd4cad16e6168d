"""Iridium DirectIP MO receiver (FIELD-FACTS §2; SBD Developers Guide §5), asyncio.

The provider's gateway opens a TCP connection, pushes one MO message (pre-header, MO header IE,
payload IE, usually a location IE) and waits for the MO confirmation on the same connection.
Iridium keeps and retries a delivery until it is confirmed, so the confirmation is the receipt:

- ``01 00 04 05 00 01 01`` (success) is sent **only after** the frame sink says the arrival is
  durable (stored now, or stored before — a retry after a lost confirmation);
- a negative confirmation (status 0) answers a message that decodes as DirectIP but that we
  refuse (malformed IEs, no payload, forged or unknown-device frame). Iridium then gives up on
  it rather than retrying a frame that can never be accepted;
- bytes that are not DirectIP at all (bad revision, oversize announcement, truncation, a
  slow-loris dribble past the read deadline) close the connection without a confirmation.

Limits: a cap on concurrent connections (extra ones are closed at once), a deadline for each
message from its first byte (or from the connection's start) to its last, and a maximum message
size enforced by :class:`~firmware_bridge.directip.DirectIPReader` before any body is buffered.

The codec is :mod:`firmware_bridge.directip` (sans-IO); this module is only the socket shell.
Header fields (IMEI, MOMSN, session time, location) become :class:`ArrivalMeta` — recorded, never
trusted for identity: the frame's signature says which vessel sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from firmware_bridge.directip import (
    DEFAULT_MAX_MESSAGE,
    DirectIPReader,
    MOMessage,
    decode_mo,
    encode_mo_confirmation,
)
from firmware_bridge.errors import DirectIPError, Malformed
from shore_gateway.errors import RemoteError
from shore_gateway.metrics import Metrics
from shore_gateway.models import Channel
from shore_gateway.pipeline_api import ArrivalMeta, FrameSink

log = logging.getLogger("flip.gateway.directip")

CONFIRM_OK = encode_mo_confirmation(True)
CONFIRM_REFUSED = encode_mo_confirmation(False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectIPLimits:
    """Resource limits of the receiver (see module docstring)."""

    max_connections: int = 256
    read_timeout_s: float = 10.0  # per message, first byte to last
    max_message: int = DEFAULT_MAX_MESSAGE
    max_messages_per_connection: int = 64


@dataclass(slots=True)
class DirectIPStats:
    """Counters for tests and logs (Prometheus counters live in :class:`Metrics`)."""

    connections: int = 0
    refused_connections: int = 0
    confirmed: int = 0
    refused: int = 0
    dropped: int = 0  # closed without a confirmation
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def arrival_meta(message: MOMessage, *, received_at: dt.datetime | None = None) -> ArrivalMeta:
    """Provider metadata of one MO message: IMEI, MOMSN, session time, location (lat/lon/CEP)."""
    h = message.header
    loc = message.location
    return ArrivalMeta(
        channel=Channel.DIRECTIP,
        imei=h.imei if h.imei.isascii() and h.imei.isdigit() else None,
        momsn=h.momsn,
        provider_time=dt.datetime.fromtimestamp(h.session_time, dt.UTC) if h.session_time else None,
        lat=loc.latitude if loc is not None else None,
        lon=loc.longitude if loc is not None else None,
        cep_km=float(loc.cep_km) if loc is not None else None,
        received_at=received_at or dt.datetime.now(dt.UTC),
    )


class DirectIPServer:
    """An asyncio DirectIP MO server handing payloads to a :class:`FrameSink`."""

    def __init__(
        self,
        sink: FrameSink,
        *,
        host: str = "127.0.0.1",
        port: int = 10800,
        limits: DirectIPLimits | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.sink = sink
        self.host = host
        self.port = port
        self.limits = limits or DirectIPLimits()
        self.metrics = metrics
        self.stats = DirectIPStats()
        self._server: asyncio.Server | None = None
        self._active: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); valid after :meth:`start`."""
        assert self._server is not None, "server not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> tuple[str, int]:
        """Bind and start accepting; returns the bound address (port 0 picks a free one)."""
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, limit=self.limits.max_message
        )
        return self.address

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting; let connections in the middle of a sink call finish (up to grace)."""
        if self._server is None:
            return
        self._server.close()
        if self._active:
            _done, pending = await asyncio.wait(set(self._active), timeout=grace_s)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self._server = None

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if len(self._active) >= self.limits.max_connections:
            self.stats.refused_connections += 1
            self._reject("connection_cap")
            writer.close()
            return
        assert task is not None
        self._active.add(task)
        self.stats.connections += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError):
            self.stats.dropped += 1
        finally:
            self._active.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = DirectIPReader(max_message=self.limits.max_message)
        ready: list[bytes] = []  # messages a pipelining sender already completed
        for _ in range(self.limits.max_messages_per_connection):
            try:
                raw = ready.pop(0) if ready else await self._read_message(reader, framer, ready)
            except _BadStream as exc:
                self._drop(exc.reason)
                if exc.answer:  # DirectIP-shaped but unacceptable: say no, then hang up
                    writer.write(CONFIRM_REFUSED)
                    with contextlib.suppress(ConnectionError, OSError):
                        await asyncio.wait_for(writer.drain(), 1.0)
                return
            if raw is None:
                return
            try:
                ok = await self._handle(raw)
            except _BadStream as exc:
                self._drop(exc.reason)
                return
            writer.write(CONFIRM_OK if ok else CONFIRM_REFUSED)
            await writer.drain()

    async def _read_message(
        self, reader: asyncio.StreamReader, framer: DirectIPReader, ready: list[bytes]
    ) -> bytes | None:
        """The next complete message; None at a clean EOF.

        The deadline runs from the first read to the message's last byte, so a sender that
        dribbles bytes (slow-loris) is cut off however regularly it sends.
        """
        deadline = time.monotonic() + self.limits.read_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _BadStream("read_timeout", answer=False)
            try:
                chunk = await asyncio.wait_for(reader.read(4096), left)
            except TimeoutError:
                raise _BadStream("read_timeout", answer=False) from None
            try:
                done = framer.receive_data(chunk or None)
            except DirectIPError as exc:
                raise _BadStream(_reason(exc), answer=bool(chunk)) from None
            if done:
                ready.extend(done[1:])
                return done[0]
            if not chunk:
                return None

    async def _handle(self, raw: bytes) -> bool:
        """Decode and hand one message to the sink; True when it is durably stored."""
        try:
            message = decode_mo(raw)
            if not message.payload:
                raise Malformed("MO message without payload IE")
        except DirectIPError as exc:
            self._refuse(_reason(exc))
            return False
        meta = arrival_meta(message)
        try:
            result = await self.sink.accept(message.payload, meta)
        except Exception as exc:  # storage down: no confirmation, Iridium will retry
            log.error("directip sink failed", extra={"error": type(exc).__name__})
            raise _BadStream("sink_error", answer=False) from exc
        log.info(
            "directip arrival",
            extra={
                "imei": meta.imei,
                "momsn": meta.momsn,
                "bytes": len(message.payload),
                "outcome": result.outcome.value,
            },
        )
        if result.durable:
            self.stats.confirmed += 1
            return True
        self.stats.refused += 1
        self.stats.count((result.reason or "refused").split(":", 1)[0])
        return False

    def _refuse(self, reason: str) -> None:
        self.stats.refused += 1
        self.stats.count(reason)
        self._reject(reason)

    def _drop(self, reason: str) -> None:
        self.stats.dropped += 1
        self.stats.count(reason)
        self._reject(reason)

    def _reject(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.frame_rejected("directip", reason)
        log.info("directip refused", extra={"reason": reason})


class _BadStream(RemoteError):
    """The connection must close: ``answer`` says whether a negative confirmation goes first."""

    def __init__(self, reason: str, *, answer: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer


def _reason(exc: Exception) -> str:
    return type(exc).__name__.lower()
