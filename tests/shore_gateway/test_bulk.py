"""Bulk statements on PostgreSQL: lists travel as typed arrays, dumped to the bytes psycopg
would make, and come back unchanged."""

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

from shore_gateway import bulk
from shore_gateway.bulk import PgArray, TypedArray, one_of
from shore_gateway.db import Database
from shore_gateway.models import DeviceKey, UtcDateTime

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
            st.one_of(st.none(), st.text(st.characters(blacklist_characters="\x00"))),
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
    "text": st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])),
    "varchar": st.text(max_size=16),
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
