"""Silence detection: a terminal that stops calling in is raised as an alert.

A captain who unplugs the VMS terminal, or cuts its antenna, sends nothing — there is no frame
to refuse and no seq gap until the terminal speaks again. What the shore *can* see is time: an
agent sends a heartbeat every ``heartbeat_interval_s`` (6 h by default, vessel_agent/config.py)
even when the crew send nothing, so a vessel whose last contact is older than a few of those
intervals is silent. :func:`check_silence` turns that into an ``alerts`` row of kind
``silence`` (shown on the staff dashboard and, as terminal health, on the owner's portal) and
resolves it once the vessel is heard from again.

The check is idempotent and safe in several gateway processes at once: each vessel is decided
under a row lock on its ``vessels`` row (``FOR NO KEY UPDATE`` on PostgreSQL, which does not
block the pipeline's inserts that reference the vessel; SQLite serialises writers anyway), so
at most one open silence alert exists per vessel. Time is passed in (``now``), so tests and the
simulator can drive it on a virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from shore_gateway.db import Database
from shore_gateway.models import Alert, AlertKind, DeviceState, Vessel, utcnow

log = logging.getLogger("flip.gateway.silence")

#: The agent's default heartbeat interval (``vessel_agent.config``: 6 h).
HEARTBEAT_INTERVAL_S = 6 * 3600
#: A vessel is silent after this many expected heartbeats have not arrived.
SILENCE_FACTOR = 3.0
#: The default threshold: 18 hours without any frame.
SILENCE_AFTER_S = SILENCE_FACTOR * HEARTBEAT_INTERVAL_S


@dataclass(frozen=True, slots=True)
class SilenceReport:
    """What one pass did: vessels newly alerted, alerts resolved."""

    raised: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()


def silence_after(
    interval_s: float = HEARTBEAT_INTERVAL_S, factor: float = SILENCE_FACTOR
) -> float:
    """The threshold in seconds: ``factor`` × the expected heartbeat interval."""
    return factor * interval_s


def last_heard(session: Session, vessel: Vessel) -> tuple[dt.datetime, bool]:
    """When the vessel was last heard from, and whether it ever was (else: its registration)."""
    state = session.get(DeviceState, vessel.id)
    if state is not None and state.last_contact is not None:
        return state.last_contact, True
    return vessel.created_at, False


def _lock_vessel(session: Session, vessel_id: int) -> Vessel | None:
    stmt = select(Vessel).where(Vessel.id == vessel_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(key_share=True)  # FOR NO KEY UPDATE
    return session.exec(stmt).first()


def _open_alert(session: Session, vessel_id: int) -> Alert | None:
    return session.exec(
        select(Alert).where(
            Alert.vessel_id == vessel_id,
            Alert.kind == AlertKind.SILENCE,
            col(Alert.resolved_at).is_(None),
        )
    ).first()


def check_silence(
    db: Database, *, now: dt.datetime | None = None, after_s: float = SILENCE_AFTER_S
) -> SilenceReport:
    """One pass over the fleet: raise a ``silence`` alert for each vessel not heard from for
    ``after_s`` seconds, resolve the open ones of vessels heard from since.

    Each vessel is decided in its own short transaction, so a long fleet never holds locks for
    long and one failure does not undo the others.
    """
    now = now or utcnow()
    threshold = dt.timedelta(seconds=after_s)
    with db.session() as session:
        ids = [v for v in session.exec(select(Vessel.id)).all() if v is not None]
    raised: list[str] = []
    resolved: list[str] = []
    for vessel_id in ids:
        with db.session() as session:
            vessel = _lock_vessel(session, vessel_id)
            if vessel is None:
                continue
            last, ever = last_heard(session, vessel)
            alert = _open_alert(session, vessel_id)
            silent = now - last > threshold
            if silent and alert is None:
                hours = (now - last).total_seconds() / 3600
                stamp = last.isoformat(timespec="minutes")
                what = (
                    f"since {stamp}"
                    if ever
                    else f"never heard from since it was registered ({stamp})"
                )
                session.add(
                    Alert(
                        vessel_id=vessel_id,
                        kind=AlertKind.SILENCE,
                        detail=f"terminal of {vessel.name} silent {what}: no frame for "
                        f"{hours:.1f} h (threshold {after_s / 3600:.1f} h)",
                        created_at=now,
                    )
                )
                raised.append(vessel.name)
            elif not silent and alert is not None:
                alert.resolved_at = now
                session.add(alert)
                resolved.append(vessel.name)
    if raised or resolved:
        log.info("silence check", extra={"raised": len(raised), "resolved": len(resolved)})
    return SilenceReport(raised=tuple(raised), resolved=tuple(resolved))


async def run_silence_checks(
    db: Database, stop: asyncio.Event, *, interval_s: float, after_s: float
) -> None:
    """The background loop of ``flip gateway serve``: one pass every ``interval_s``.

    A database failure is logged and retried at the next pass; it never stops the loop.
    """
    while not stop.is_set():
        try:
            await asyncio.to_thread(check_silence, db, after_s=after_s)
        except Exception as exc:  # the database may be restarting; try again next pass
            log.warning("silence check failed", extra={"error": type(exc).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
