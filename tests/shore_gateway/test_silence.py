"""Silence detection: an unplugged terminal becomes a ``silence`` alert, resolved on contact."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlmodel import select

from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.ingest.service import Services
from shore_gateway.metrics import Metrics
from shore_gateway.models import Alert, DeviceState, Vessel
from shore_gateway.pipeline_api import StoreRawSink
from shore_gateway.registry import VesselIds, add_vessel
from shore_gateway.silence import SILENCE_AFTER_S, check_silence, silence_after
from tests.shore_gateway.conftest import make_pub_pem

T0 = dt.datetime(2025, 11, 20, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def _vessels(db: Database) -> dict[str, int]:
    with db.session() as s:
        ids = {}
        for name in ("Quiet", "Chatty"):
            v = add_vessel(s, name, make_pub_pem(), VesselIds(owner="acme"))
            v.created_at = T0 - 100 * H
            s.add(v)
            ids[name] = v.id or 0
    return ids


def _contact(db: Database, vessel_id: int, when: dt.datetime) -> None:
    with db.session() as s:
        state = s.get(DeviceState, vessel_id) or DeviceState(vessel_id=vessel_id)
        state.last_contact = when
        s.add(state)


def _open(db: Database) -> dict[int, list[Alert]]:
    with db.session() as s:
        rows = s.exec(select(Alert).where(Alert.kind == "silence")).all()
    out: dict[int, list[Alert]] = {}
    for a in rows:
        out.setdefault(a.vessel_id, []).append(a)
    return out


def test_threshold_is_three_heartbeats_by_default() -> None:
    assert SILENCE_AFTER_S == 18 * 3600 == silence_after()
    assert Settings(expected_heartbeat_s=3600, silence_factor=4).silence_after_s == 4 * 3600


def test_silence_raised_once_shown_and_resolved_on_contact(db: Database) -> None:
    ids = _vessels(db)
    _contact(db, ids["Quiet"], T0)
    _contact(db, ids["Chatty"], T0)
    assert check_silence(db, now=T0 + 17 * H).raised == ()  # below 3 × 6 h
    report = check_silence(db, now=T0 + 19 * H)
    assert set(report.raised) == {"Quiet", "Chatty"}
    _contact(db, ids["Chatty"], T0 + 19.5 * H)  # the captain plugs it back in
    report = check_silence(db, now=T0 + 20 * H)
    assert report.raised == () and report.resolved == ("Chatty",)
    for _ in range(3):  # idempotent: one open alert per silent vessel, however often it runs
        check_silence(db, now=T0 + 30 * H)
    alerts = _open(db)
    (quiet,) = alerts[ids["Quiet"]]
    assert quiet.resolved_at is None
    assert "silent since 2025-11-20T12:00" in quiet.detail and "threshold 18.0 h" in quiet.detail
    (chatty,) = alerts[ids["Chatty"]]
    assert chatty.resolved_at is not None


def test_never_heard_from_counts_from_registration(db: Database) -> None:
    _vessels(db)
    report = check_silence(db, now=T0)  # registered 100 h before T0, never a frame
    assert set(report.raised) == {"Quiet", "Chatty"}
    assert all("never heard from" in a.detail for al in _open(db).values() for a in al)


def test_configurable_threshold(db: Database) -> None:
    ids = _vessels(db)
    _contact(db, ids["Quiet"], T0)
    _contact(db, ids["Chatty"], T0)
    assert check_silence(db, now=T0 + 3 * H, after_s=2 * 3600).raised != ()


def test_serve_background_check_raises_the_alert(sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        vessel = add_vessel(s, "Unplugged", make_pub_pem(), VesselIds(owner="acme"))
        vid = vessel.id
    settings = Settings(
        db_url=sqlite_db.url,
        directip_enabled=False,
        expected_heartbeat_s=1,
        silence_factor=0.5,
        silence_check_interval_s=0.05,
    )

    async def run() -> dict[str, object]:
        services = Services(settings, sqlite_db, StoreRawSink(sqlite_db, Metrics()), Metrics())
        info = await services.start()
        try:
            for _ in range(100):
                if _open(sqlite_db).get(vid or 0):
                    break
                await asyncio.sleep(0.05)
        finally:
            await services.stop()
        return info

    info = asyncio.run(run())
    assert info["silence_after_s"] == 0.5
    (alert,) = _open(sqlite_db)[vid or 0]
    assert alert.resolved_at is None
    with sqlite_db.session() as s:
        assert s.get(Vessel, vid).name == "Unplugged"
