"""The frame pipeline: verify → store → dedupe → reassemble → decrypt → enrich → case → ack due.

:class:`Pipeline` is the gateway's frame sink, and this module is its group commit: concurrent
arrivals are handled together in ONE database transaction — the raw arrivals, the new messages
(UNIQUE (vessel_id, seq) is the exactly-once guard, so several gateway processes may take any
frame), fragments, the opened grievances with their position and trip, the cases (through the
case desk hooks) and the devices' ack/gap/chain state. A crash at any instant either keeps all
of it or none of it — and in the second case no provider was yet told "received", so they send
again.

What one transaction does is :func:`shore_gateway.stages.run` (the batch stages), which hands
out to :mod:`~shore_gateway.collisions`, :mod:`~shore_gateway.fragments`,
:mod:`~shore_gateway.decrypt` and :mod:`~shore_gateway.device_state`; the acks a vessel is owed
are computed when they are sent (:func:`shore_gateway.downlink.acks_for`). Crew messages are
opened in the batch when this gateway holds the shore sealing keys; otherwise they stay sealed
in ``messages.sealed`` and a decrypt worker on another host opens them later
(:func:`shore_gateway.decrypt.open_pending`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import frame
from protocol.errors import RemoteProtocolError
from shore_gateway import stages
from shore_gateway.db import Database
from shore_gateway.hooks import CaseHooks
from shore_gateway.metrics import Metrics
from shore_gateway.models import RawFrame
from shore_gateway.pipeline_api import AcceptResult, ArrivalMeta, Outcome

log = logging.getLogger("flip.gateway.pipeline")


# How long a batch may wait for the arrivals it expects, as a share of the last batch's time.
GATHER_SHARE = 0.5


@dataclass(slots=True)
class _Waiting:
    data: bytes
    meta: ArrivalMeta
    future: asyncio.Future[AcceptResult]


@dataclass(slots=True)
class _Lane:
    """The arrivals of one event loop, the drains working them, and what the next batch waits
    for (see :class:`Pipeline`): ``expected`` arrivals, until ``until`` (``perf_counter``)."""

    waiting: list[_Waiting] = field(default_factory=list)
    draining: int = 0
    expected: int = 1
    until: float = 0.0
    wake: asyncio.Future[None] | None = None  # a gathering drain's, done when it may go on

    def arrived(self) -> None:
        """An arrival joined: wake the gathering drain once it has what it waits for."""
        if len(self.waiting) >= self.expected:
            self.woken()

    def woken(self) -> None:
        """Wake the gathering drain (if any): enough arrived, or its time is up."""
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)


class Pipeline:
    """The gateway's :class:`~shore_gateway.pipeline_api.FrameSink`.

    Concurrent arrivals are committed together (group commit): the batch is durable as a whole
    before any adapter tells its provider "received", and one fsync serves many frames.

    Senders that wait for the answer before sending more (DirectIP: a connection per frame,
    confirmed once durable) come back once a batch is answered, but over a few milliseconds,
    not within one turn of the event loop: the next batch took the first one or two and left
    the rest to a batch of their own, each paying the whole per-batch cost (with 8 DirectIP
    senders, batches of 2 and 6 alternated). So a batch first waits for as many arrivals as
    were in flight last time (the batch just answered and those that waited behind it), for at
    most :data:`GATHER_SHARE` of that batch's time after it was answered: less than a batch
    costs. An arrival after a quiet spell starts a batch at once, and no drain waits without an
    arrival waiting.
    """

    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        *,
        seal_keys: list[X25519PrivateKey] | None = None,
        max_frame_bytes: int = frame.UPLINK_MAX,
        hooks: CaseHooks,
        max_batch: int = 64,
        parallel: int | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.seal_keys = seal_keys or []
        self.max_frame_bytes = max_frame_bytes
        self.hooks = hooks
        self.max_batch = max_batch
        # Batches worked at once, each in its own transaction and thread (safe: the same as
        # several gateway processes, which the state-row locks serialise per vessel). One by
        # default: two on PostgreSQL measured no better on a loaded 2-core machine (median
        # ingest/bound 0.35 against 0.44 in 4 interleaved pairs each; BENCHMARKS.md).
        self.parallel = max(1, parallel or 1)
        self._lanes: WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = WeakKeyDictionary()
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        """Take one arrival; the result is durable when it says STORED or DUPLICATE."""
        self.metrics.frame_received(meta.channel, len(data))
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        waiting = _Waiting(data=data, meta=meta, future=loop.create_future())
        lane = self._lanes.setdefault(loop, _Lane())
        lane.waiting.append(waiting)
        lane.arrived()
        if lane.draining < self.parallel and lane.wake is None:
            # A task of its own, so a cancelled caller never strands the others' results (a
            # cancelled caller cancels only its own future, which the drain then skips). Not
            # while a drain gathers: this arrival is one of those it waits for.
            lane.draining += 1
            task = loop.create_task(self._drain(loop, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result = await waiting.future
        self.metrics.observe_latency(meta.channel, time.perf_counter() - start)
        return result

    async def _drain(self, loop: asyncio.AbstractEventLoop, lane: _Lane) -> None:
        try:
            while lane.waiting:
                await self._gather(loop, lane)
                if not lane.waiting:  # another drain took them meanwhile
                    break
                batch, lane.waiting = lane.waiting[: self.max_batch], lane.waiting[self.max_batch :]
                started = time.perf_counter()
                try:
                    results = await asyncio.to_thread(
                        self.ingest_many, [(w.data, w.meta) for w in batch]
                    )
                except Exception as exc:  # handed to every waiting caller
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(exc)
                else:
                    for w, result in zip(batch, results, strict=True):
                        if not w.future.done():
                            w.future.set_result(result)
                ended = time.perf_counter()
                lane.expected = min(self.max_batch, len(batch) + len(lane.waiting))
                lane.until = ended + (ended - started) * GATHER_SHARE
        finally:
            lane.draining -= 1

    @staticmethod
    async def _gather(loop: asyncio.AbstractEventLoop, lane: _Lane) -> None:
        """Let arrivals join the next batch: those already running (one turn of the loop), then
        up to ``lane.expected`` of them until ``lane.until`` (see the class docstring)."""
        await asyncio.sleep(0)
        left = lane.until - time.perf_counter()
        if len(lane.waiting) >= lane.expected or left <= 0 or lane.wake is not None:
            return  # enough, nobody was answered lately, or another drain is gathering
        lane.wake = loop.create_future()
        timer = loop.call_later(left, lane.woken)
        try:
            await lane.wake
        finally:
            timer.cancel()
            lane.wake = None

    def ingest(self, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        """One arrival, synchronously, in its own transaction (tests, recovery)."""
        return self.ingest_many([(data, meta)])[0]

    def ingest_many(self, items: list[tuple[bytes, ArrivalMeta]]) -> list[AcceptResult]:
        """Several arrivals in one transaction (group commit).

        Optimistic: frames refused at verification are answered without touching the store;
        if anything goes wrong deeper in (a frame that verifies but turns out malformed, or a
        database error), the whole batch rolls back and each arrival is taken again in its own
        transaction, so one troublesome frame never holds the others back or half-applies.
        """
        if len(items) > 1:
            try:
                with self.db.session() as session:
                    results = stages.run(session, items, self)
                return self._report(items, results)
            except Exception:
                log.info("batch rolled back; taking its arrivals one by one")
            return [self.ingest_many([item])[0] for item in items]
        try:
            with self.db.session() as session:
                results = stages.run(session, items, self)
        except RemoteProtocolError as exc:
            results = [stages.refused(exc)]
        return self._report(items, results)

    def _report(
        self, items: list[tuple[bytes, ArrivalMeta]], results: list[AcceptResult]
    ) -> list[AcceptResult]:
        for (_, meta), result in zip(items, results, strict=True):
            if result.outcome is Outcome.REJECTED:
                reason = (result.reason or "").split(":", 1)[0]
                self.metrics.frame_rejected(meta.channel, reason)
                log.info("frame refused", extra={"reason": reason, "channel": meta.channel})
            elif result.outcome is Outcome.DUPLICATE:
                self.metrics.dedupe_hit(meta.channel, "raw")
        return results


def reprocess_pending(pipeline: Pipeline, rows: Iterable[RawFrame]) -> int:
    """Run raw arrivals left ``pending`` (e.g. stored by an older sink) through the pipeline."""
    done = 0
    for raw in rows:
        meta = ArrivalMeta(
            channel=raw.channel,
            imei=raw.imei,
            momsn=raw.momsn,
            provider_time=raw.provider_time,
            lat=raw.provider_lat,
            lon=raw.provider_lon,
            cep_km=raw.provider_cep_km,
            received_at=raw.received_at,
        )
        pipeline.ingest(raw.payload, meta)
        done += 1
    return done
