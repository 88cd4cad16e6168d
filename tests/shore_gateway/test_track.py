"""Interpolation properties: endpoints, bounds, antimeridian, growth of uncertainty."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shore_gateway.context.track import KNOT_MS, distance_m, estimate, slerp

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@dataclass
class F:
    time: dt.datetime
    lat: float
    lon: float
    accuracy_m: float | None = 0.0
    source: str = "naf"


lats = st.floats(-85, 85)
lons = st.floats(-180, 179.999)


def test_no_fixes_no_estimate() -> None:
    assert estimate(T0, None, None) is None


def test_antimeridian_stays_near_180() -> None:
    a = F(T0, 0.0, 179.9)
    b = F(T0 + dt.timedelta(hours=2), 0.0, -179.9)
    est = estimate(T0 + dt.timedelta(hours=1), a, b)
    assert est is not None
    assert abs(abs(est.lon) - 180.0) < 0.01
    assert est.lat == pytest.approx(0.0, abs=1e-9)
    assert est.method == "interpolated"
    assert est.age_s == 3600


def test_outside_the_track_stays_at_the_nearest_fix() -> None:
    a = F(T0, 10.0, 20.0, accuracy_m=None)
    est = estimate(T0 + dt.timedelta(hours=1), a, None, max_speed_kn=10)
    assert est is not None
    assert (est.lat, est.lon, est.method) == (10.0, 20.0, "nearest")
    assert est.uncertainty_m == pytest.approx(500 + 10 * KNOT_MS * 3600)


@given(lats, lons, lats, lons, st.integers(60, 86400), st.floats(0, 1))
def test_interpolation_properties(
    lat1: float, lon1: float, lat2: float, lon2: float, span: int, frac: float
) -> None:
    a = F(T0, lat1, lon1)
    b = F(T0 + dt.timedelta(seconds=span), lat2, lon2)
    gap = distance_m(lat1, lon1, lat2, lon2)
    assume(gap < 19_000_000)  # not (nearly) antipodal
    when = T0 + dt.timedelta(seconds=round(span * frac))
    est = estimate(when, a, b, max_speed_kn=15)
    assert est is not None
    assert -90 <= est.lat <= 90 and -180 <= est.lon < 180
    # On the great circle: distances to both ends add up to the gap.
    d0 = distance_m(lat1, lon1, est.lat, est.lon)
    d1 = distance_m(est.lat, est.lon, lat2, lon2)
    assert d0 + d1 == pytest.approx(gap, abs=1.0)
    f = (when - T0).total_seconds() / span
    assert d0 == pytest.approx(f * gap, abs=1.0)
    assert est.uncertainty_m >= 0
    assert est.age_s <= span / 2 + 1
    # If the track is physically possible at 15 kn, the bound is at most 2·v·age.
    if gap <= 15 * KNOT_MS * span:
        assert est.uncertainty_m <= 2 * 15 * KNOT_MS * est.age_s + 1e-6


@given(lats, lons, lats, lons)
def test_slerp_endpoints(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    assume(distance_m(lat1, lon1, lat2, lon2) < 19_000_000)
    s = slerp(lat1, lon1, lat2, lon2, 0.0)
    e = slerp(lat1, lon1, lat2, lon2, 1.0)
    assert distance_m(s[0], s[1], lat1, lon1) < 1.0
    assert distance_m(e[0], e[1], lat2, lon2) < 1.0


@given(st.integers(0, 86400), st.integers(0, 86400))
def test_uncertainty_grows_with_age(age1: int, age2: int) -> None:
    a = F(T0, 5.0, 5.0)
    e1 = estimate(T0 + dt.timedelta(seconds=age1), a, None)
    e2 = estimate(T0 + dt.timedelta(seconds=age2), a, None)
    assert e1 is not None and e2 is not None
    assert (e1.uncertainty_m <= e2.uncertainty_m) == (age1 <= age2) or age1 == age2
