"""Transactional outbox: deliver queued case changes to connectors, exactly once in effect.

The desk writes ``case_outbox`` rows in the same transaction as the case change (so a change
and its notification commit together or not at all). :class:`Dispatcher` delivers them later:

- per connector, in id order; when a delivery fails, later rows of the *same case* wait
  (a Primero PATCH must not overtake its POST), and the connector is tried again after an
  exponential backoff (capped by ``max_backoff_s``);
- a row is *leased* before delivery by a conditional UPDATE, so two gateway processes sharing
  one database do not both send it — and if a process dies after sending but before marking
  the row delivered, the row is sent again after the lease: the receiver's idempotency key
  (MQTT user property / JSON ``idempotency_key``, Primero's client-supplied UUID → 409) makes
  that second delivery a no-op. That is "exactly once in effect".
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from sqlalchemy import or_, update
from sqlmodel import col, select

from shore_gateway.cases.models import OutboxEntry
from shore_gateway.cases.workflow import CaseError
from shore_gateway.db import Database
from shore_gateway.models import utcnow

log = logging.getLogger(__name__)
LEASE = dt.timedelta(seconds=60)


class DeliveryFailed(CaseError):
    """A connector could not deliver now (broker down, HTTP 5xx, timeout): retry later."""


class Connector(Protocol):
    """Something that delivers outbox rows (``mqtt``, ``primero``)."""

    name: str

    def deliver(self, entry: OutboxEntry) -> None:
        """Deliver one row; return when the receiver has it (or already had it).

        Raises:
            DeliveryFailed: try again later.
        """


class Dispatcher:
    """Drains the outbox for a set of connectors (call :meth:`run_once`, or :meth:`start`)."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        *,
        max_backoff_s: float = 300.0,
        interval_s: float = 2.0,
        clock: Callable[[], dt.datetime] = utcnow,
        batch: int = 200,
    ) -> None:
        self.db = db
        self.connectors = dict(connectors)
        self.max_backoff_s = max_backoff_s
        self.interval_s = interval_s
        self.clock = clock
        self.batch = batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Try every due row once; returns how many were delivered."""
        delivered = 0
        for name, connector in self.connectors.items():
            delivered += self._drain(name, connector)
        return delivered

    def pending(self) -> int:
        with self.db.session() as s:
            return len(
                s.exec(
                    select(OutboxEntry.id).where(
                        col(OutboxEntry.connector).in_(list(self.connectors)),
                        col(OutboxEntry.delivered_at).is_(None),
                    )
                ).all()
            )

    def _drain(self, name: str, connector: Connector) -> int:
        now = self.clock()
        with self.db.session() as s:
            rows = s.exec(
                select(OutboxEntry)
                .where(
                    OutboxEntry.connector == name,
                    col(OutboxEntry.delivered_at).is_(None),
                )
                .order_by(col(OutboxEntry.id))
                .limit(self.batch)
            ).all()
        blocked: set[int] = set()
        delivered = 0
        for row in rows:
            if row.case_id in blocked:
                continue
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                blocked.add(row.case_id)  # leased by someone else, or backing off
                continue
            if not self._lease(row, now):
                blocked.add(row.case_id)
                continue
            try:
                connector.deliver(row)
            except DeliveryFailed as exc:
                blocked.add(row.case_id)
                self._failed(row, now, str(exc))
                continue
            self._done(row)
            delivered += 1
        return delivered

    def _lease(self, row: OutboxEntry, now: dt.datetime) -> bool:
        with self.db.session() as s:
            result = s.exec(
                update(OutboxEntry)
                .where(
                    col(OutboxEntry.id) == row.id,
                    col(OutboxEntry.delivered_at).is_(None),
                    or_(
                        col(OutboxEntry.next_attempt_at).is_(None),
                        col(OutboxEntry.next_attempt_at) <= now,
                    ),
                )
                .values(next_attempt_at=now + LEASE, attempts=OutboxEntry.attempts + 1)
            )
            return bool(result.rowcount == 1)

    def _failed(self, row: OutboxEntry, now: dt.datetime, error: str) -> None:
        with self.db.session() as s:
            fresh = s.get(OutboxEntry, row.id)
            if fresh is None:  # pragma: no cover
                return
            backoff = min(self.max_backoff_s, 2.0 ** min(fresh.attempts, 20))
            fresh.next_attempt_at = now + dt.timedelta(seconds=backoff)
            fresh.last_error = error[:200]
            s.add(fresh)
        log.warning("case outbox %s: row %s not delivered (%s)", row.connector, row.id, error)

    def _done(self, row: OutboxEntry) -> None:
        with self.db.session() as s:
            fresh = s.get(OutboxEntry, row.id)
            if fresh is None:  # pragma: no cover
                return
            fresh.delivered_at = self.clock()
            fresh.last_error = None
            s.add(fresh)

    # --- background thread --------------------------------------------------------------

    def start(self) -> None:
        """Deliver in a background thread every ``interval_s`` until :meth:`stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="case-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # keep the loop alive on database hiccups
                log.error("case outbox: %s", type(exc).__name__)
            self._stop.wait(self.interval_s)
