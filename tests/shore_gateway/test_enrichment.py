"""Batched enrichment agrees with the one-at-a-time lookups, on both databases."""

from __future__ import annotations

import datetime as dt
import random

from shore_gateway.context.epcis import trip_at
from shore_gateway.context.positions import Fix, position_at, store_fixes
from shore_gateway.db import Database
from shore_gateway.enrichment import MAX_LOOKUP, context_at
from shore_gateway.models import Trip, Vessel

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
