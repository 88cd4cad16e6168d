"""Storage on SQLite and PostgreSQL: migrations from empty, constraints the pipeline relies on."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from shore_gateway.db import Database, current_revision, head_revision, upgrade
from shore_gateway.metrics import Metrics
from shore_gateway.models import Alert, AlertKind, Message, Position, RawFrame, Role, User, Vessel
from shore_gateway.pipeline_api import ArrivalMeta, Outcome, StoreRawSink
from shore_gateway.schema import metadata

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # idempotent
    database = Database(db_url)
    try:
        assert current_revision(database.engine) == head_revision()
        tables = set(sa.inspect(database.engine).get_table_names())
        assert set(metadata.tables) <= tables
    finally:
        database.dispose()


def test_migrations_match_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_pragmas(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _vessel(db: Database, name: str = "V") -> int:
    with db.session() as s:
        v = Vessel(name=name)
        s.add(v)
        s.flush()
        assert v.id is not None
        return v.id


def test_enums_are_stored_as_their_strings(db: Database) -> None:
    # psycopg dumps a plain Enum by its *name*; a StrEnum must reach the row as its value.
    vid = _vessel(db)
    with db.session() as s:
        for kind in AlertKind:
            s.add(Alert(vessel_id=vid, kind=kind, detail="x"))
        s.add(User(name="u", role=Role.ADMIN, token_sha256=bytes(32)))
    with db.engine.connect() as conn:
        kinds = sorted(r[0] for r in conn.execute(sa.text("SELECT kind FROM alerts")))
        role = conn.execute(sa.text("SELECT role FROM users WHERE name = 'u'")).scalar()
    assert kinds == sorted(["gap", "chain", "silence", "seal", "collision", "broker_drop"])
    assert role == "admin"
    with db.session() as s:
        assert {a.kind for a in s.exec(select(Alert))} == set(AlertKind)


def test_times_round_trip_as_aware_utc(db: Database) -> None:
    vid = _vessel(db)
    local = dt.datetime(2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with db.session() as s:
        s.add(Position(vessel_id=vid, time=local, lat=1.0, lon=2.0, source="naf"))
    with db.session() as s:
        p = s.exec(sa.select(Position)).scalars().one()  # type: ignore[call-overload]
    assert p.time == T0 and p.time.tzinfo is not None
    assert p.time.utcoffset() == dt.timedelta(0)


def test_naive_times_are_refused(db: Database) -> None:
    vid = _vessel(db)
    with pytest.raises(Exception, match="timezone-aware"), db.session() as s:
        s.add(Position(vessel_id=vid, time=dt.datetime(2024, 1, 1), lat=0, lon=0, source="x"))
        s.flush()


def test_message_seq_is_unique_per_vessel(db: Database) -> None:
    a, b = _vessel(db, "A"), _vessel(db, "B")
    with db.session() as s:
        s.add(Message(vessel_id=a, seq=1, kind="grievance"))
        s.add(Message(vessel_id=b, seq=1, kind="grievance"))  # same seq, other vessel: fine
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Message(vessel_id=a, seq=1, kind="grievance"))
        s.flush()


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Message(vessel_id=999_999, seq=1, kind="grievance"))
        s.flush()


def test_position_unique_per_vessel_time_source(db: Database) -> None:
    vid = _vessel(db)
    with db.session() as s:
        s.add(Position(vessel_id=vid, time=T0, lat=1, lon=1, source="naf"))
        s.add(Position(vessel_id=vid, time=T0, lat=1, lon=1, source="ais"))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Position(vessel_id=vid, time=T0, lat=2, lon=2, source="naf"))
        s.flush()


def test_raw_arrivals_dedupe_per_channel(db: Database) -> None:
    sink = StoreRawSink(db, Metrics())
    meta = ArrivalMeta(channel="rockblock", imei="300234010753370", momsn=7, received_at=T0)

    other_channel = ArrivalMeta(channel="directip", imei=meta.imei, momsn=7)

    async def run() -> list[Outcome]:
        results = [
            await sink.accept(b"\x01frame", meta),
            await sink.accept(b"\x01frame", meta),  # provider retry
            await sink.accept(b"\x01frame", other_channel),
            await sink.accept(b"\x01other", meta),  # MOMSN wrapped: a different frame
            await sink.accept(b"", meta),
            await sink.accept(b"x" * 341, meta),
        ]
        return [r.outcome for r in results]

    assert asyncio.run(run()) == [
        Outcome.STORED,
        Outcome.DUPLICATE,
        Outcome.STORED,
        Outcome.STORED,
        Outcome.REJECTED,
        Outcome.REJECTED,
    ]
    with db.session() as s:
        rows = s.exec(sa.select(RawFrame)).scalars().all()  # type: ignore[call-overload]
    assert len(rows) == 3
    assert {r.status for r in rows} == {"pending"}
    assert rows[0].provider_time is None and rows[0].received_at == T0


def test_concurrent_upgrades_on_postgresql(pg_url: str) -> None:
    """Several gateway processes starting at once must not race the migration."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(pg_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_connection_the_server_ended_is_replaced_at_checkout(pg_url: str) -> None:
    # No ping per checkout on PostgreSQL: the server's goodbye waiting on the socket is enough.
    database = Database(pg_url)
    other = sa.create_engine(pg_url, poolclass=sa.NullPool)
    try:
        with database.engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with other.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            gone = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p")
            deadline = time.monotonic() + 10
            while conn.execute(gone, {"p": pid}).scalar_one() and time.monotonic() < deadline:
                time.sleep(0.01)
        with database.session() as session:  # the pooled connection is dead: not handed out
            again = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert again != pid
    finally:
        other.dispose()
        database.dispose()
