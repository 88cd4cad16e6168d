"""Grievance enrichment: the vessel's position at the grievance time and the trip it belongs to.

Lookups are made for a whole batch at once: one statement finds, for every (vessel, time)
asked, the fix before and the fix after (the columns an estimate reads) and the trip. The
statement is hand-written SQL because the portable Core form of "a list of (vessel, time) rows
joined to correlated LIMIT 1 subqueries" needs a VALUES list with named columns, which SQLite
only accepts inside a CTE and which SQLAlchemy compiles afresh for every batch. On SQLite the
text form is built once per size (rounded up to a power of two) and cached; on PostgreSQL the
rows travel as three arrays (``unnest``), one text for every size — a long VALUES text is
converted again by the driver on every batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, insert, text
from sqlalchemy.sql.selectable import TextualSelect
from sqlmodel import Session, col, select

from shore_gateway.bulk import TypedArray, insert_unnest, one_of
from shore_gateway.context.track import Estimate, estimate
from shore_gateway.models import Grievance, Message, Position, UtcDateTime

MAX_LOOKUP = 64  # rows per lookup statement


@dataclass(frozen=True, slots=True)
class Context:
    """What the store knows about a vessel at a moment."""

    position: Estimate | None
    trip_id: int | None


def context_at(session: Session, wanted: Sequence[tuple[int, dt.datetime]]) -> list[Context]:
    """For each (vessel id, time): the interpolated position and the trip, in order."""
    out: list[Context] = []
    for start in range(0, len(wanted), MAX_LOOKUP):
        out += _context_chunk(session, wanted[start : start + MAX_LOOKUP])
    return out


def _context_chunk(session: Session, wanted: Sequence[tuple[int, dt.datetime]]) -> list[Context]:
    found = {row[0]: row[1:] for row in _lookup_rows(session, wanted)}
    out = []
    for k, (_vid, when) in enumerate(wanted):
        trip, *fixes = found[k]
        position = estimate(when, _fix(*fixes[:5]), _fix(*fixes[5:]))
        out.append(Context(position=position, trip_id=trip))
    return out


@dataclass(frozen=True, slots=True)
class _Fix:
    """The columns of a ``positions`` row an estimate reads (:class:`~.track.FixLike`)."""

    time: dt.datetime
    lat: float
    lon: float
    accuracy_m: float | None
    source: str


def _fix(
    time: dt.datetime | None, lat: float, lon: float, accuracy_m: float | None, source: str
) -> _Fix | None:
    return None if time is None else _Fix(time, lat, lon, accuracy_m, source)


def _lookup_rows(session: Session, wanted: Sequence[tuple[int, dt.datetime]]) -> list[Any]:
    """For each (vessel id, time): its index in ``wanted``, the trip, the fix before and the
    fix after (time, lat, lon, accuracy_m, source each; all None where there is none)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        params = {
            "idx": list(range(len(wanted))),
            "vid": [vid for vid, _ in wanted],
            "t": [when for _, when in wanted],
        }
        return list(connection.execute(_PG_LOOKUP, params))
    size = 1
    while size < len(wanted):
        size *= 2
    padded = list(wanted) + [wanted[-1]] * (size - len(wanted))
    values: dict[str, Any] = {}
    for k, (vid, when) in enumerate(padded):
        values[f"i{k}"], values[f"v{k}"], values[f"t{k}"] = k, vid, when
    return list(connection.execute(_lookup(size), values))


# For each row of q(idx, vid, t): the trip at t, the fix at or before t, the fix after t — in
# one statement with the fixes' columns (an estimate needs no more of them). PostgreSQL joins
# each fix LATERAL (an index probe per row); SQLite, which has no LATERAL, joins the row whose
# id the same probe finds (by rowid). PostgreSQL would hash all positions for that form.
_WHERE = "WHERE p.vessel_id = q.vid AND p.time {op} q.t ORDER BY p.time {order} LIMIT 1"
_BEFORE, _AFTER = _WHERE.format(op="<=", order="DESC"), _WHERE.format(op=">", order="ASC")
_FIX_COLUMNS = ("time", "lat", "lon", "accuracy_m", "source")
_TRIP = (
    "(SELECT r.id FROM trips r WHERE r.vessel_id = q.vid AND r.trip_date <= q.t "
    " ORDER BY r.trip_date DESC LIMIT 1)"
)
_SELECT = ", ".join(
    ["q.idx", f"{_TRIP} AS trip"]
    + [f"{side}.{c} AS {side}_{c}" for side in ("b", "a") for c in _FIX_COLUMNS]
)
_FIELDS = ", ".join(f"p.{c}" for c in _FIX_COLUMNS)
_PG_NEIGHBOURS = (
    f"SELECT {_SELECT} FROM q "  # noqa: S608 - fixed text, values only as parameters
    f"LEFT JOIN LATERAL (SELECT {_FIELDS} FROM positions p {_BEFORE}) b ON true "
    f"LEFT JOIN LATERAL (SELECT {_FIELDS} FROM positions p {_AFTER}) a ON true"
)
_SQLITE_NEIGHBOURS = (
    f"SELECT {_SELECT} FROM q "  # noqa: S608 - fixed text, values only as parameters
    f"LEFT JOIN positions b ON b.id = (SELECT p.id FROM positions p {_BEFORE}) "
    f"LEFT JOIN positions a ON a.id = (SELECT p.id FROM positions p {_AFTER})"
)
# Typed results: the fixes' times come back aware UTC from either database (UtcDateTime).
_RESULT_TYPES = {
    f"{side}_{c}": Position.__table__.c[c].type  # type: ignore[attr-defined]
    for side in ("b", "a")
    for c in _FIX_COLUMNS
}
_PG_LOOKUP = (
    text(f"WITH q(idx, vid, t) AS (SELECT * FROM unnest(:idx, :vid, :t)) {_PG_NEIGHBOURS}")  # noqa: S608
    .bindparams(
        bindparam("idx", type_=TypedArray(Integer())),
        bindparam("vid", type_=TypedArray(Integer())),
        bindparam("t", type_=TypedArray(UtcDateTime())),
    )
    .columns(**_RESULT_TYPES)
)
_LOOKUPS: dict[int, TextualSelect] = {}


def _lookup(size: int) -> TextualSelect:
    stmt = _LOOKUPS.get(size)
    if stmt is None:
        rows = ", ".join(f"(:i{k}, :v{k}, :t{k})" for k in range(size))
        stmt = _LOOKUPS[size] = (
            text(f"WITH q(idx, vid, t) AS (VALUES {rows}) {_SQLITE_NEIGHBOURS}")  # placeholders
            .bindparams(*(bindparam(f"t{k}", type_=UtcDateTime()) for k in range(size)))
            .columns(**_RESULT_TYPES)
        )
    return stmt


@dataclass(frozen=True, slots=True)
class NewGrievance:
    """An opened grievance to store (its message row exists)."""

    vessel_id: int
    message_id: int
    time: dt.datetime
    category: int
    lang: str
    text: str
    pseudonym: str | None
    zawgyi: str | None = None  # "converted" / "unsure" (models.Grievance)
    zawgyi_p: int | None = None
    zawgyi_other: str | None = None
    voice: bytes | None = None  # a voice note's Codec2 frames as on the wire (models.Grievance)
    voice_mode: int | None = None
    voice_ms: int | None = None


_TABLE: Any = Grievance.__table__  # type: ignore[attr-defined]
_INSERT: Any = insert(_TABLE).returning(_TABLE.c.id, _TABLE.c.message_id)


def store_grievances(session: Session, new: Sequence[NewGrievance]) -> list[int]:
    """Insert the grievances enriched with position and trip (one lookup, one insert); their
    ids in order."""
    if not new:
        return []
    rows = _rows(session, new)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        inserted = insert_unnest(connection, _TABLE, rows, returning=("id", "message_id"))
    else:
        inserted = [tuple(r) for r in connection.execute(_INSERT, rows)]
    ids = {message_id: gid for gid, message_id in inserted}
    return [ids[g.message_id] for g in new]


def _rows(session: Session, new: Sequence[NewGrievance]) -> list[dict[str, Any]]:
    """The grievances' rows, enriched (one lookup)."""
    contexts = context_at(session, [(g.vessel_id, g.time) for g in new])
    rows = []
    for g, ctx in zip(new, contexts, strict=True):
        est = ctx.position
        rows.append(
            {
                "message_id": g.message_id,
                "category": g.category,
                "lang": g.lang,
                "text": g.text,
                "pseudonym": g.pseudonym,
                "zawgyi": g.zawgyi,
                "zawgyi_p": g.zawgyi_p,
                "zawgyi_other": g.zawgyi_other,
                "voice": g.voice,
                "voice_mode": g.voice_mode,
                "voice_ms": g.voice_ms,
                "time": g.time,
                "pos_lat": est.lat if est else None,
                "pos_lon": est.lon if est else None,
                "pos_time": est.time if est else None,
                "pos_age_s": est.age_s if est else None,
                "pos_uncertainty_m": est.uncertainty_m if est else None,
                "pos_source": est.source if est else None,
                "trip_id": ctx.trip_id,
            }
        )
    return rows


#: How far from a new fix a grievance may be re-placed.
REENRICH_WINDOW = dt.timedelta(hours=24)

# The grievances of some vessels within a time range, with their vessel: through the index of
# each vessel's crew messages by time (migration 0011; the literal ``kind`` is its predicate).
# ``messages.sent_at`` is the grievance's ``time`` (both the message's own); the grievance's is
# checked too, so the set is exactly the grievances in the range.
_NEAR = (
    select(Grievance, Message.vessel_id)
    .join(Message, col(Message.id) == col(Grievance.message_id))
    .where(
        one_of(col(Message.vessel_id), "vids"),
        text("messages.kind = 'crew'"),
        col(Message.sent_at) >= bindparam("since"),
        col(Message.sent_at) <= bindparam("until"),
        col(Grievance.time) >= bindparam("since"),
        col(Grievance.time) <= bindparam("until"),
    )
)


def reenrich(session: Session, fixes: Mapping[int, Sequence[dt.datetime]]) -> int:
    """New fixes may place earlier grievances better (positions often arrive after them).

    ``fixes``: each vessel's new fix times. A grievance within :data:`REENRICH_WINDOW` of one
    of its vessel's new fixes, whose position is missing or older than that distance, takes the
    position estimated now. All vessels at once: one lookup of the grievances near the fixes
    and one :func:`context_at` for those that may move — per vessel and per grievance, a batch
    of positions from many vessels cost a statement or three each. Returns how many moved.
    """
    fixes = {vid: times for vid, times in fixes.items() if times}
    if not fixes:
        return 0
    window = REENRICH_WINDOW.total_seconds()
    every = [t for times in fixes.values() for t in times]
    params = {
        "vids": sorted(fixes),
        "since": min(every) - REENRICH_WINDOW,
        "until": max(every) + REENRICH_WINDOW,
    }
    movable: list[tuple[Grievance, int]] = []
    for g, vid in session.execute(_NEAR, params).all():
        gap = min(abs((g.time - t).total_seconds()) for t in fixes[vid])
        if gap > window or (g.pos_age_s is not None and g.pos_age_s <= gap):
            continue
        movable.append((g, vid))
    contexts = context_at(session, [(vid, g.time) for g, vid in movable])
    changed = 0
    for (g, _vid), context in zip(movable, contexts, strict=True):
        est = context.position
        if est is None:
            continue
        g.pos_lat, g.pos_lon, g.pos_time = est.lat, est.lon, est.time
        g.pos_age_s, g.pos_uncertainty_m = est.age_s, est.uncertainty_m
        g.pos_source = est.source
        session.add(g)
        changed += 1
    return changed
