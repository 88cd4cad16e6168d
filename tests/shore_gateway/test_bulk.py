"""Many rows, several tables, one statement (``bulk.insert_together``), on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import col, select

from shore_gateway.bulk import insert_together
from shore_gateway.cases.models import AuditEntry
from shore_gateway.db import Database
from shore_gateway.models import Downlink, Vessel
from shore_gateway.registry import VesselIds, add_vessel
from tests.shore_gateway.conftest import make_pub_pem

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
_AL: Any = AuditEntry.__table__  # type: ignore[attr-defined]
_DL: Any = Downlink.__table__  # type: ignore[attr-defined]
_V: Any = Vessel.__table__  # type: ignore[attr-defined]


def test_parts_go_in_whole_and_the_last_returns(db: Database) -> None:
    """Every part's rows are inserted with the columns given (two tables sharing a column
    name, ``vessel_id``, keep their own values), Python-side defaults fill what the rows
    leave out, a part without rows is left out, the updates are made, and the last part's
    rows come back."""
    with db.session() as s:
        ids = [add_vessel(s, name, make_pub_pem(), VesselIds()).id for name in ("A", "B")]
    a, b = ids
    downlinks = [
        {"vessel_id": vid, "kind": "case_status", "body": bytes([k])}
        for k, vid in enumerate((a, b, a))
    ]
    audit = [
        {"time": NOW, "actor": "system", "action": "opened", "vessel_id": vid, "detail": "{}"}
        for vid in (b, b)
    ]
    with db.session() as s:
        connection = s.connection()
        back = insert_together(
            connection, [(_DL, downlinks), (_V, []), (_AL, audit)], returning=("vessel_id", "id")
        )
        assert sorted(vid for vid, _ in back) == [b, b]
        assert insert_together(connection, [(_DL, [])]) == []
        first = min(d_id for (d_id,) in insert_together(connection, [(_DL, downlinks[:1])]))
        renamed = [{"id": first, "kind": "config", "body": b"\x09"}]
        again = insert_together(
            connection, [(_AL, audit[:1]), (_DL, downlinks[:1])], updates=[(_DL, renamed, "id")]
        )
        assert len(again) == 1  # the downlink's id: it came last
    with db.session() as s:
        stored = s.exec(select(Downlink).order_by(col(Downlink.id))).all()
        assert [(d.vessel_id, d.kind, d.body) for d in stored] == [
            (a, "case_status", b"\x00"),
            (b, "case_status", b"\x01"),
            (a, "case_status", b"\x02"),
            (a, "config", b"\x09"),  # inserted, then updated with the next statement's rows
            (a, "case_status", b"\x00"),
        ]
        assert all(d.attempts == 0 and d.created_at is not None for d in stored)  # defaults
        assert stored[-1].id == again[0][0]
        entries = s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        assert [(e.vessel_id, e.time) for e in entries] == [(b, NOW)] * 3
        assert {e.id for e in entries[:2]} == {entry_id for _, entry_id in back}
