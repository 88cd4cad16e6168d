"""Batched enrichment agrees with the one-at-a-time lookups, on both databases."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from shore_gateway.context.epcis import trip_at
from shore_gateway.context.positions import Fix, position_at, store_fixes
from shore_gateway.db import Database
from shore_gateway.enrichment import MAX_LOOKUP, context_at, reenrich
from shore_gateway.models import Grievance, Message, Trip, Vessel

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_context_at_matches_single_lookups_for_many_vessels_and_times(db: Database) -> None:
    rng = random.Random(7)
    with db.session() as s:
        vessels = [Vessel(name=f"MV {i}") for i in range(4)]
        s.add_all(vessels)
        s.flush()
        ids = [v.id for v in vessels if v.id is not None]
        fixes = [
            Fix(
                vessel_id=vid,
                time=T0 + dt.timedelta(hours=rng.uniform(0, 72)),
                lat=rng.uniform(-10, 10),
                lon=rng.uniform(50, 70),
                source="naf",
            )
            for vid in ids[:3]  # the fourth vessel has no track at all
            for _ in range(20)
        ]
        store_fixes(s, fixes)
        s.add_all(
            Trip(vessel_id=vid, trip_date=T0 + dt.timedelta(days=d))
            for vid in ids[:2]
            for d in (0, 2)
        )
    # More than one statement's worth, sizes that are not powers of two, times outside tracks.
    wanted = [
        (rng.choice(ids), T0 + dt.timedelta(hours=rng.uniform(-12, 84)))
        for _ in range(MAX_LOOKUP + 37)
    ]
    with db.session() as s:
        got = context_at(s, wanted)
        assert len(got) == len(wanted)
        for (vid, when), ctx in zip(wanted, got, strict=True):
            trip = trip_at(s, vid, when)
            assert ctx.trip_id == (trip.id if trip else None)
            assert ctx.position == position_at(s, vid, when)
        assert any(c.position is None for c in got)  # the vessel without a track
        assert any(c.trip_id is None for c in got)
        assert context_at(s, []) == []


_SERIAL = itertools.count()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    grievances=st.lists(
        st.tuples(
            st.integers(0, 2),  # vessel
            st.floats(-60, 60),  # hours from T0
            st.one_of(st.none(), st.floats(0, 200_000)),  # position age, s (None: no position)
        ),
        max_size=12,
    ),
    track=st.lists(st.tuples(st.integers(0, 2), st.floats(-80, 80)), max_size=8),
    new=st.lists(st.tuples(st.integers(0, 2), st.floats(-80, 80)), max_size=6),
)
def test_reenrich_moves_exactly_the_grievances_a_new_fix_places_better(
    db: Database,
    grievances: list[tuple[int, float, float | None]],
    track: list[tuple[int, float]],
    new: list[tuple[int, float]],
) -> None:
    """A batch's new fixes of several vessels re-place, in one go, exactly the grievances the
    rule names — within a day of one of their own vessel's new fixes, with no position or one
    older than that distance — at the position the track gives now; nothing else changes
    (other vessels, grievances further away, better-placed ones)."""
    n = next(_SERIAL)
    when = lambda hours: T0 + dt.timedelta(hours=hours)  # noqa: E731
    with db.session() as s:
        vessels = [Vessel(name=f"MV re {n}.{i}") for i in range(3)]
        s.add_all(vessels)
        s.flush()
        ids = [v.id or 0 for v in vessels]
        store_fixes(s, [_fix(ids[v], when(h), k) for k, (v, h) in enumerate(track)])
        gids = []
        for seq, (v, h, age) in enumerate(grievances):
            m = Message(vessel_id=ids[v], seq=seq, kind="crew", sent_at=when(h))
            s.add(m)
            s.flush()
            placed = age is not None
            g = Grievance(
                message_id=m.id or 0, category=1, lang="en", text=f"g{seq}", time=when(h),
                pos_lat=1.0 if placed else None, pos_lon=2.0 if placed else None,
                pos_time=when(h) if placed else None, pos_age_s=age,
                pos_uncertainty_m=5.0 if placed else None, pos_source="naf" if placed else None,
            )  # fmt: skip
            s.add(g)
            s.flush()
            gids.append(g.id or 0)
    fixes: dict[int, list[dt.datetime]] = {}
    with db.session() as s:
        store_fixes(s, [_fix(ids[v], when(h), 100 + k) for k, (v, h) in enumerate(new)])
        for v, h in new:
            fixes.setdefault(ids[v], []).append(when(h))
        before = {
            g.id: _place(g) for g in s.exec(select(Grievance).where(col(Grievance.id).in_(gids)))
        }
        expected = dict(before)
        moves = 0
        for gid, (v, h, age) in zip(gids, grievances, strict=True):
            times = fixes.get(ids[v], [])
            gap = min((abs((when(h) - t).total_seconds()) for t in times), default=None)
            if gap is None or gap > 24 * 3600 or (age is not None and age <= gap):
                continue
            est = position_at(s, ids[v], when(h))
            if est is not None:
                expected[gid] = (
                    est.lat,
                    est.lon,
                    est.time,
                    est.age_s,
                    est.uncertainty_m,
                    est.source,
                )
                moves += 1
        assert reenrich(s, fixes) == moves
    with db.session() as s:
        after = {
            g.id: _place(g) for g in s.exec(select(Grievance).where(col(Grievance.id).in_(gids)))
        }
    assert after == expected


def _fix(vessel_id: int, time: dt.datetime, k: int) -> Fix:
    return Fix(vessel_id=vessel_id, time=time, lat=-5 + k * 0.01, lon=55 + k * 0.02, source="naf")


def _place(g: Grievance) -> tuple[object, ...]:
    return (g.pos_lat, g.pos_lon, g.pos_time, g.pos_age_s, g.pos_uncertainty_m, g.pos_source)
