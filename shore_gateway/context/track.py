"""Where was the vessel at time t? Interpolation between fixes, with age and uncertainty.

Between two fixes A (t0) and B (t1) the estimate moves along the great circle from A to B in
proportion to time (slerp on the unit sphere — no special case at the antimeridian or near the
poles). The uncertainty is a bound, not a guess: a vessel that never exceeds ``max_speed_kn`` is,
at time t, within a = v·(t−t0) of A and b = v·(t1−t) of B, and the estimate P is f·D from A and
(1−f)·D from B (D = |AB|, f = (t−t0)/(t1−t0)); so the true position is within
min(a + f·D, b + (1−f)·D) of P, plus the fixes' own accuracy. Outside the track (before the
first or after the last fix) the estimate stays at the nearest fix and the bound grows as
v·|t − t_fix|.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Protocol

EARTH_RADIUS_M = 6_371_008.8
KNOT_MS = 1852 / 3600
DEFAULT_MAX_SPEED_KN = 15.0  # fishing vessels rarely exceed this; configurable per call
DEFAULT_ACCURACY_M = 500.0  # EU VMS: error < 500 m at 99% (FIELD-FACTS §5)


class FixLike(Protocol):
    @property
    def time(self) -> dt.datetime: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def accuracy_m(self) -> float | None: ...
    @property
    def source(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """A position estimate for a moment; ``method`` is fix, interpolated or nearest."""

    time: dt.datetime
    lat: float
    lon: float
    age_s: float  # seconds between ``time`` and the nearest fix used
    uncertainty_m: float
    method: str
    source: str  # source of the nearest fix (naf, ais, …)


def to_vector(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def from_vector(x: float, y: float, z: float) -> tuple[float, float]:
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    lon = math.degrees(math.atan2(y, x))
    return lat, normalise_lon(lon)


def normalise_lon(lon: float) -> float:
    """Longitude in [-180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def central_angle(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Angle between two points on the sphere, radians (haversine; stable for small angles)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * math.asin(min(1.0, math.sqrt(h)))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return EARTH_RADIUS_M * central_angle(lat1, lon1, lat2, lon2)


def slerp(lat1: float, lon1: float, lat2: float, lon2: float, f: float) -> tuple[float, float]:
    """The point a fraction ``f`` of the way from 1 to 2 along the great circle."""
    omega = central_angle(lat1, lon1, lat2, lon2)
    if omega < 1e-12:
        return lat1, normalise_lon(lon1)
    s = math.sin(omega)
    if s < 1e-9:  # (nearly) antipodal: no unique great circle; stay at the nearer end
        return (lat1, normalise_lon(lon1)) if f < 0.5 else (lat2, normalise_lon(lon2))
    a, b = math.sin((1 - f) * omega) / s, math.sin(f * omega) / s
    v1, v2 = to_vector(lat1, lon1), to_vector(lat2, lon2)
    return from_vector(*(a * p + b * q for p, q in zip(v1, v2, strict=True)))


def estimate(
    when: dt.datetime,
    before: FixLike | None,
    after: FixLike | None,
    *,
    max_speed_kn: float = DEFAULT_MAX_SPEED_KN,
) -> Estimate | None:
    """Estimate the position at ``when`` from the fix before (≤) and the fix after (>) it."""
    v = max_speed_kn * KNOT_MS
    if before is None and after is None:
        return None
    if before is None or after is None or after.time <= before.time:
        fix = before if before is not None else after
        assert fix is not None
        age = abs((when - fix.time).total_seconds())
        return Estimate(
            time=when,
            lat=fix.lat,
            lon=normalise_lon(fix.lon),
            age_s=age,
            uncertainty_m=_accuracy(fix) + v * age,
            method="fix" if age == 0 else "nearest",
            source=fix.source,
        )
    span = (after.time - before.time).total_seconds()
    dt0 = (when - before.time).total_seconds()
    dt1 = (after.time - when).total_seconds()
    f = min(1.0, max(0.0, dt0 / span))
    lat, lon = slerp(before.lat, before.lon, after.lat, after.lon, f)
    gap = distance_m(before.lat, before.lon, after.lat, after.lon)
    bound = min(v * dt0 + f * gap, v * dt1 + (1 - f) * gap)
    nearest = before if dt0 <= dt1 else after
    age = min(dt0, dt1)
    return Estimate(
        time=when,
        lat=lat,
        lon=lon,
        age_s=age,
        uncertainty_m=max(_accuracy(before), _accuracy(after)) + bound,
        method="fix" if age == 0 else "interpolated",
        source=nearest.source,
    )


def _accuracy(fix: FixLike) -> float:
    return fix.accuracy_m if fix.accuracy_m is not None else DEFAULT_ACCURACY_M
