"""Fleet queries for the staff dashboard: link health per vessel and recent tracks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, func, select

from shore_gateway.cases.models import Case
from shore_gateway.cases.views import iso, terminal_health
from shore_gateway.cases.workflow import TERMINAL
from shore_gateway.models import Alert, Position, RawFrame, Vessel, utcnow

TRACK_DAYS = 7
TRACK_POINTS = 500


def fleet(
    session: Session,
    vessels: list[Vessel],
    now: dt.datetime | None = None,
    *,
    silence_after_s: float | None = None,
) -> list[dict[str, Any]]:
    """One row per vessel: last contact, frames ok/refused in 24 h, queue, alerts, cases."""
    now = now or utcnow()
    day = now - dt.timedelta(hours=24)
    rows = []
    for v in vessels:
        health = terminal_health(session, v, now, silence_after_s=silence_after_s)
        ok = failed = 0
        if v.imei:
            counts = session.exec(
                select(RawFrame.status, func.count())
                .where(RawFrame.imei == v.imei, col(RawFrame.received_at) >= day)
                .group_by(col(RawFrame.status))
            ).all()
            for status, n in counts:
                if status == "rejected":
                    failed += n
                else:
                    ok += n
        alerts = session.exec(
            select(Alert).where(Alert.vessel_id == v.id, col(Alert.resolved_at).is_(None))
        ).all()
        open_cases = session.exec(
            select(Case.urgent).where(
                Case.vessel_id == v.id, col(Case.status).not_in([s.value for s in TERMINAL])
            )
        ).all()
        rows.append(
            {
                **health,
                "owner": v.owner,
                "frames_ok_24h": ok,
                "frames_refused_24h": failed,
                "alert_details": [
                    {"kind": a.kind, "detail": a.detail, "since": iso(a.created_at)} for a in alerts
                ],
                "open_cases": len(open_cases),
                "urgent_cases": sum(1 for u in open_cases if u),
            }
        )
    return rows


def tracks(
    session: Session, vessels: list[Vessel], now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Recent tracks (last ``TRACK_DAYS`` days, at most ``TRACK_POINTS`` fixes per vessel)."""
    now = now or utcnow()
    since = now - dt.timedelta(days=TRACK_DAYS)
    out = []
    for v in vessels:
        fixes = session.exec(
            select(Position)
            .where(Position.vessel_id == v.id, col(Position.time) >= since)
            .order_by(col(Position.time).desc())
            .limit(TRACK_POINTS)
        ).all()
        if fixes:
            out.append(
                {
                    "vessel": v.name,
                    "points": [[round(p.lon, 4), round(p.lat, 4)] for p in reversed(fixes)],
                    "last": iso(fixes[0].time),
                }
            )
    return out
