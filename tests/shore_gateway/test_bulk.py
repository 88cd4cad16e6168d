"""Bulk statements: many rows, several tables, one statement (``bulk.insert_together``), on both
databases; on PostgreSQL lists travel as typed arrays, dumped to the bytes psycopg would make,
and come back unchanged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.adapt import AdaptersMap, PyFormat, Transformer
from psycopg.pq import Format
from sqlmodel import col, select

from shore_gateway import bulk
from shore_gateway.bulk import PgArray, TypedArray, insert_together, one_of
from shore_gateway.cases.models import AuditEntry
from shore_gateway.db import Database
from shore_gateway.models import DeviceKey, Downlink, RawFrame, UtcDateTime, Vessel
from shore_gateway.registry import VesselIds, add_vessel
from tests.shore_gateway.conftest import make_pub_pem

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
_AL: Any = AuditEntry.__table__  # type: ignore[attr-defined]
_DL: Any = Downlink.__table__  # type: ignore[attr-defined]
_V: Any = Vessel.__table__  # type: ignore[attr-defined]
_RAW: Any = RawFrame.__table__  # type: ignore[attr-defined]


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


def test_the_last_part_may_skip_rows_that_conflict_and_the_updates_still_go_in(
    db: Database,
) -> None:
    """With ``conflict``, the last part's rows whose key is taken are left out and do not come
    back (as an arrival the provider sent again), while the updates before them are made."""
    with db.session() as s:
        (vid,) = [add_vessel(s, "A", make_pub_pem(), VesselIds()).id]
    key = ("channel", "imei", "momsn", "sha256")
    raw = [
        {"channel": "mqtt", "imei": "300234010000001", "momsn": m, "sha256": bytes([m]) * 32,
         "payload": b"frame", "received_at": NOW, "status": "accepted"}
        for m in (1, 2)
    ]  # fmt: skip
    with db.session() as s:
        connection = s.connection()
        first = insert_together(connection, [(_RAW, raw[:1])], returning=("momsn",), conflict=key)
        assert first == [(1,)]
        renamed = [{"id": vid, "name": "A renamed"}]
        back = insert_together(
            connection,
            [(_RAW, raw)],
            returning=("momsn",),
            updates=[(_V, renamed, "id")],
            conflict=key,
        )
        assert back == [(2,)]  # the first was stored already
        taken = insert_together(
            connection, [(_RAW, raw)], returning=("momsn",), conflict=key,
            updates=[(_V, [{"id": vid, "name": "A again"}], "id")],
        )  # fmt: skip
        assert taken == []
    with db.session() as s:
        assert s.exec(select(Vessel.name)).all() == ["A again"]
        assert sorted(s.exec(select(RawFrame.momsn)).all()) == [1, 2]


# Any text a database column can hold: no NUL (PostgreSQL's text cannot) and no lone surrogate
# (no UTF-8 for it: crew words, decoded from the wire's UTF-8, never hold one).
_TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])
_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "i": sa.Integer(),
    "b": sa.LargeBinary(),
    "t": UtcDateTime(),
    "s": sa.Text(),
}
_ECHO = sa.text("SELECT :i, :b, :t, :s").bindparams(
    *(sa.bindparam(name, type_=TypedArray(type_)) for name, type_ in _TYPES.items())
)


class Recorded:
    """A migrated PostgreSQL database and every parameter set its driver was handed."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.db.migrate()
        self.sent: list[Any] = []
        sa.event.listen(self.db.engine, "before_cursor_execute", self._keep)

    def _keep(self, *args: Any) -> None:
        self.sent.append(args[3])


@pytest.fixture(scope="module")
def pg_adapters(pg_server: str) -> Iterator[AdaptersMap]:
    """A PostgreSQL connection's adapters (its types known), with the bulk arrays."""
    url = sa.make_url(pg_server)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database
    ) as conn:
        bulk.register_arrays(conn.adapters)
        yield conn.adapters


@pytest.fixture
def pg(pg_url: str) -> Iterator[Recorded]:
    recorded = Recorded(pg_url)
    yield recorded
    recorded.db.dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
            st.one_of(st.none(), st.binary(max_size=20)),
            st.one_of(
                st.none(),
                st.datetimes(
                    min_value=dt.datetime(1970, 1, 1),
                    max_value=dt.datetime(2200, 1, 1),
                    timezones=st.just(dt.UTC),
                ),
            ),
            st.one_of(st.none(), st.text(_TEXT)),
        ),
        max_size=70,
    )
)
def test_typed_arrays_come_back_unchanged(pg: Recorded, rows: list[Any]) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    params = {name: list(values) for name, values in zip(_TYPES, columns, strict=True)}
    with pg.db.engine.connect() as conn:
        back = conn.execute(_ECHO, params).one()
    assert [list(c) for c in back] == [params[name] for name in _TYPES]
    assert all(isinstance(v, PgArray) for v in pg.sent[-1].values())  # not scanned by psycopg


def test_one_of_sends_one_typed_array(pg: Recorded) -> None:
    stmt = sa.select(DeviceKey.id).where(one_of(DeviceKey.kid, "kids"))  # type: ignore[arg-type]
    with pg.db.engine.connect() as conn:
        assert conn.execute(stmt, {"kids": [b"\x00kid", b"other"]}).all() == []
    assert isinstance(pg.sent[-1]["kids"], PgArray)


_ELEMENTS: dict[str, st.SearchStrategy[Any]] = {
    "int2": st.integers(-(2**15), 2**15 - 1),
    "int4": st.integers(-(2**31), 2**31 - 1),
    "int8": st.integers(-(2**63), 2**63 - 1),
    "float8": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "text": st.text(_TEXT),
    "varchar": st.text(_TEXT, max_size=16),
    "bytea": st.binary(max_size=40),
    "timestamptz": st.datetimes(
        timezones=st.sampled_from([dt.UTC, dt.timezone(-dt.timedelta(hours=5))])
    ),
}


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_typed_arrays_dump_to_psycopgs_own_bytes(pg_adapters: AdaptersMap, data: Any) -> None:
    # The bulk dumper is a faster path to the same bytes psycopg's own array dumper makes.
    pg_type = data.draw(st.sampled_from(sorted(_ELEMENTS)))
    values = data.draw(st.lists(st.one_of(st.none(), _ELEMENTS[pg_type]), max_size=70))
    cls = bulk._ARRAYS[pg_type]
    info = pg_adapters.types.get(pg_type)
    assert info is not None
    ours = Transformer(pg_adapters).get_dumper(cls(values), PyFormat.BINARY)
    theirs = pg_adapters.get_dumper_by_oid(info.array_oid, Format.BINARY)(cls, None)
    assert type(ours).__name__ == f"{cls.__name__}Dumper"
    assert bytes(ours.dump(cls(values))) == bytes(theirs.dump(cls(values)))
