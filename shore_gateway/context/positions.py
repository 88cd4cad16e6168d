"""Per-vessel track storage: position fixes from any source, idempotent on re-delivery.

Feeds (NAF, AIS, NMEA, DirectIP location IEs, the agent's own position messages) are parsed
elsewhere into :class:`Fix` values; this module finds their vessel and stores them. A batch is
processed line by line with an outcome per line, so one bad line never spoils the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from shore_gateway.bulk import insert_rows
from shore_gateway.context.naf import NafError, NafReport, parse_naf
from shore_gateway.context.track import DEFAULT_MAX_SPEED_KN, Estimate, estimate
from shore_gateway.models import Position, Vessel
from shore_gateway.registry import find_vessel


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """A position of a known vessel at a time, from a named source."""

    vessel_id: int
    time: dt.datetime
    lat: float
    lon: float
    source: str
    speed_kn: float | None = None
    course: float | None = None
    accuracy_m: float | None = None


@dataclass(slots=True)
class LineReport:
    """Outcome of a line-oriented feed: every line is accepted, rejected or skipped (blank)."""

    accepted: int = 0
    skipped: int = 0
    rejected: list[dict[str, object]] = field(default_factory=list)

    def reject(self, line: int, error: str) -> None:
        self.rejected.append({"line": line, "error": error})

    def as_dict(self) -> dict[str, object]:
        return {"accepted": self.accepted, "rejected": self.rejected, "skipped": self.skipped}


def store_fixes(session: Session, fixes: Iterable[Fix]) -> int:
    """Insert fixes, ignoring ones already stored (same vessel, time, source). Returns count.

    One statement for all (:func:`shore_gateway.bulk.insert_rows`), built once per shape."""
    rows = [
        {
            "vessel_id": f.vessel_id,
            "time": f.time,
            "lat": f.lat,
            "lon": f.lon,
            "source": f.source,
            "speed_kn": f.speed_kn,
            "course": f.course,
            "accuracy_m": f.accuracy_m,
            "received_at": dt.datetime.now(dt.UTC),
        }
        for f in fixes
    ]
    if not rows:
        return 0
    table = Position.__table__  # type: ignore[attr-defined]
    insert_rows(session.connection(), table, rows, conflict=("vessel_id", "time", "source"))
    return len(rows)


def naf_vessel(session: Session, report: NafReport) -> Vessel | None:
    return find_vessel(
        session,
        imo=report.imo,
        ircs=report.ircs,
        registry_no=report.registry_no,
        name=report.name,
    )


def ingest_naf(session: Session, lines: list[bytes]) -> LineReport:
    """Parse and store NAF lines (1-based line numbers in the report)."""
    report = LineReport()
    fixes: list[Fix] = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            report.reject(number, "not UTF-8 text")
            continue
        if not text.strip():
            report.skipped += 1
            continue
        try:
            naf = parse_naf(text)
        except NafError as exc:
            report.reject(number, str(exc))
            continue
        vessel = naf_vessel(session, naf)
        if vessel is None or vessel.id is None:
            codes = [c for c in ("RC", "IR", "XR", "NA") if c in naf.fields]
            ids = ", ".join(f"{c}/{naf.fields[c]}" for c in codes)
            report.reject(number, f"no registered vessel matches {ids}")
            continue
        fixes.append(
            Fix(
                vessel_id=vessel.id,
                time=naf.time,
                lat=naf.lat,
                lon=naf.lon,
                speed_kn=naf.speed_kn,
                course=naf.course,
                source="naf",
            )
        )
        report.accepted += 1
    store_fixes(session, fixes)
    return report


def track(
    session: Session,
    vessel_id: int,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 10_000,
) -> list[Position]:
    """The vessel's fixes in time order (all sources), optionally within [start, end]."""
    stmt = select(Position).where(Position.vessel_id == vessel_id)
    if start is not None:
        stmt = stmt.where(col(Position.time) >= start)
    if end is not None:
        stmt = stmt.where(col(Position.time) <= end)
    stmt = stmt.order_by(col(Position.time), col(Position.id)).limit(limit)
    return list(session.exec(stmt).all())


def neighbours(
    session: Session, vessel_id: int, when: dt.datetime
) -> tuple[Position | None, Position | None]:
    """The last fix at or before ``when`` and the first fix after it."""
    params = {"vessel_id": vessel_id, "when": when}
    before = session.exec(_BEFORE, params=params).first()
    after = session.exec(_AFTER, params=params).first()
    return before, after


# Built once (grievance enrichment runs these for every grievance).
_BEFORE = (
    select(Position)
    .where(Position.vessel_id == bindparam("vessel_id"), col(Position.time) <= bindparam("when"))
    .order_by(col(Position.time).desc())
    .limit(1)
)
_AFTER = (
    select(Position)
    .where(Position.vessel_id == bindparam("vessel_id"), col(Position.time) > bindparam("when"))
    .order_by(col(Position.time))
    .limit(1)
)


def position_at(
    session: Session,
    vessel_id: int,
    when: dt.datetime,
    *,
    max_speed_kn: float = DEFAULT_MAX_SPEED_KN,
) -> Estimate | None:
    """The vessel's estimated position at ``when`` (see :mod:`shore_gateway.context.track`)."""
    before, after = neighbours(session, vessel_id, when)
    return estimate(when, before, after, max_speed_kn=max_speed_kn)
