"""Many rows in one INSERT on PostgreSQL, with a statement text that does not grow with them.

SQLAlchemy sends an executemany with RETURNING as one multi-row ``VALUES (…), (…), …``
statement: 64 grievances make a 35 KB statement with over a thousand placeholders, which the
driver parses again on every batch (psycopg caches only short statements) and the server plans
again — on the ingest path that cost more than verifying and decrypting the frames. Here each
column travels as one array parameter instead::

    INSERT INTO t (a, b) SELECT * FROM unnest(CAST(%(a)b AS INTEGER[]), CAST(%(b)b AS BYTEA[]))
    ON CONFLICT (a) DO NOTHING RETURNING id, a

— the same text for 1 row or 500, parsed once per process. Values go through each column's
SQLAlchemy bind processing (e.g. :class:`~shore_gateway.models.UtcDateTime`), and columns the
rows leave out get their Python-side defaults, as a Core insert would give them. Rows come back
in no promised order: callers match them by the columns they ask for.

Each array travels typed (:class:`PgArray`, :func:`register_arrays`): psycopg otherwise scans
every list it is given, twice, in Python, to choose the element type (and for integers the
smallest one that fits) — per statement that cost as much as the statement's own round trip.

Lookups by a list of values take the list the same way (:func:`one_of`: ``column = ANY(array)``
on PostgreSQL), so their statements too are built once and keep one text for any number of
values. Rows for several tables go in one statement (:func:`insert_together`: each insert but
the last a data-modifying ``WITH``), which saves each further statement's client work and
round trip.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from psycopg import postgres
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import AdaptersMap, Dumper
from psycopg.pq import Format
from sqlalchemy import Boolean, Column, Table, TypeDecorator, any_, bindparam, insert, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal


class PgArray(list[Any]):
    """A list psycopg sends as a binary array of one PostgreSQL type (``pg_type``), fixed up
    front (:func:`register_arrays`) instead of found by scanning the elements."""

    pg_type: ClassVar[str] = ""


# The element types of the gateway's columns, by the (lower-case) name SQLAlchemy compiles them
# to on PostgreSQL (length dropped): PostgreSQL's own name of each, as psycopg knows it.
_PG_TYPES = {
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "float": "float8",
    "double precision": "float8",
    "boolean": "bool",
    "text": "text",
    "varchar": "varchar",
    "bytea": "bytea",
    "timestamp with time zone": "timestamptz",
}
_ARRAYS: dict[str, type[PgArray]] = {
    name: type(f"{name.title()}Array", (PgArray,), {"pg_type": name})
    for name in sorted(set(_PG_TYPES.values()))
}


def register_arrays(adapters: AdaptersMap) -> None:
    """Teach a psycopg connection (its ``adapters``) the typed arrays: each :class:`PgArray`
    dumps as a one-dimensional binary array of its type (:class:`_ArrayDumper`), its oid and
    element type known up front. A connection without them still sends the same arrays,
    found by psycopg's scan."""
    for name, cls in _ARRAYS.items():
        info = adapters.types.get(name)
        if info is not None and info.array_oid:
            dumper = type(
                f"{cls.__name__}Dumper",
                (_ArrayDumper,),
                {"oid": info.array_oid, "element_oid": info.oid, "pg_type": name},
            )
            adapters.register_dumper(cls, dumper)


_HEAD = struct.Struct(">iiIii")  # dimensions (1), has nulls, element oid, length, lower bound
_EMPTY = struct.Struct(">iiI")  # no dimensions
_LENGTH = struct.Struct(">i").pack
_NULL = _LENGTH(-1)
# Elements of a fixed size, packed with their lengths by one struct call: (code, size).
_FIXED = {
    "int2": ("h", 2),
    "int4": ("i", 4),
    "int8": ("q", 8),
    "float8": ("d", 8),
    "bool": ("?", 1),
}
# The others, through psycopg's own element dumper for the Python type they come as.
_ELEMENTS = {"text": str, "varchar": str, "bytea": bytes, "timestamptz": dt.datetime}


@functools.lru_cache(maxsize=512)
def _packer(code: str, n: int) -> Callable[..., bytes]:
    """Packs ``n`` (length, value) pairs of element ``code``."""
    return struct.Struct(">" + ("i" + code) * n).pack


class _ArrayDumper(Dumper):
    """A :class:`PgArray` as PostgreSQL's binary array (one dimension), in a few calls per
    array: psycopg's own array dumper works element by element in Python (a call, a length,
    two appends each) — for a 64-grievance INSERT 0.17 ms, here 0.08 ms (all the parameters
    of a batch of 64 frames: 1.6 ms, here 1.3). Numbers go in one ``struct`` call, an array of
    nulls in one repeat; text, bytea and timestamps through psycopg's own element dumper, so
    their bytes are exactly psycopg's (the connection's encoding: crew words are only encoded,
    never altered). ``tests/shore_gateway/test_bulk.py`` holds every array to the bytes
    psycopg's own array dumper makes, so a psycopg upgrade that changed them would fail it."""

    format = Format.BINARY
    element_oid: ClassVar[int] = 0
    pg_type: ClassVar[str] = ""

    def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        self._element: Callable[[Any], Buffer | None] | None = None
        if self.pg_type not in _FIXED:
            adapters = context.adapters if context is not None else postgres.adapters
            element = adapters.get_dumper_by_oid(self.element_oid, Format.BINARY)
            self._element = element(_ELEMENTS[self.pg_type], context).dump

    def dump(self, obj: list[Any]) -> Buffer:
        n = len(obj)
        if not n:
            return _EMPTY.pack(0, 0, self.element_oid)
        nulls = obj.count(None)
        head = _HEAD.pack(1, nulls > 0, self.element_oid, n, 1)
        if nulls == n:
            return head + _NULL * n
        element = self._element
        if element is None:
            code, size = _FIXED[self.pg_type]
            if nulls:
                pair = _packer(code, 1)
                return head + b"".join([_NULL if v is None else pair(size, v) for v in obj])
            parts: list[Any] = [size] * (2 * n)
            parts[1::2] = obj
            return head + _packer(code, n)(*parts)
        if nulls:
            return head + b"".join([_NULL if v is None else _framed(element(v)) for v in obj])
        dumped = list(map(element, obj))
        parts = [b""] * (2 * n)
        parts[0::2] = list(map(_LENGTH, map(len, dumped)))  # type: ignore[arg-type]
        parts[1::2] = dumped
        return head + b"".join(parts)


def _framed(element: Buffer | None) -> bytes:
    assert element is not None  # psycopg's dumpers of these types return their bytes
    return _LENGTH(len(element)) + bytes(element)


@dataclass(frozen=True, slots=True)
class _Param:
    """How one column's values become one array parameter (worked out once per shape)."""

    name: str
    process: Callable[[Any], Any] | None  # the column type's bind processing
    floats: bool  # a binary array holds one element type: ``1`` and ``1.5`` are two
    array: type[list[Any]]
    column: Any = None  # set for a column the rows leave out: its Python-side default

    def bind(self, values: list[Any]) -> list[Any]:
        """``values`` as the driver should get them."""
        if self.process is not None:
            process = self.process
            values = [process(v) for v in values]
        if self.floats:
            values = [None if v is None else float(v) for v in values]
        return self.array(values)


@dataclass(frozen=True, slots=True)
class _Plan:
    """An unnest statement of one shape, and how its parameters are made."""

    sql: str
    given: tuple[_Param, ...]
    defaults: tuple[_Param, ...]


_PLANS: dict[tuple[Any, ...], _Plan] = {}


def _plan(
    table: Table,
    dialect: Dialect,
    given: tuple[str, ...],
    shape: tuple[Any, ...],
    sql: Callable[[str, tuple[str, ...]], str],
    *,
    defaults: bool,
    prefix: str = "",
) -> _Plan:
    """The plan for ``given`` columns of ``table`` in a statement of ``shape``, made with
    ``sql(casts, names)`` the first time; ``defaults``: with the columns the rows leave out
    that have a Python-side default; ``prefix``: of its parameters' names (in the statement;
    :func:`_params` gives them unprefixed)."""
    key = (type(dialect), table, given, shape)
    plan = _PLANS.get(key)
    if plan is None:
        left_out = tuple(
            c
            for c in table.columns
            if defaults and c.name not in given and c.default is not None and not c.primary_key
        )
        columns = [table.c[n] for n in given] + list(left_out)
        names = tuple(c.name for c in columns)
        # Identifiers and types come from the table metadata, values only from parameters.
        casts = ", ".join(
            f"CAST(%({prefix}{c.name})b AS {_sql_type(c, dialect)}[])" for c in columns
        )
        params = [_param(c, dialect) for c in columns]
        defaulted = tuple(
            _Param(p.name, p.process, p.floats, p.array, column)
            for p, column in zip(params[len(given) :], left_out, strict=True)
        )
        plan = _PLANS[key] = _Plan(sql(casts, names), tuple(params[: len(given)]), defaulted)
    return plan


def _sql_type(column: Column[Any], dialect: Dialect) -> str:
    return str(column.type.compile(dialect=dialect))


def _param(column: Column[Any], dialect: Dialect) -> _Param:
    return _typed_param(column.name, column.type, dialect)


def _typed_param(name: str, type_: TypeEngine[Any], dialect: Dialect) -> _Param:
    base = str(type_.compile(dialect=dialect)).split("(", 1)[0].strip().lower()
    pg_type = _PG_TYPES.get(base)
    return _Param(
        name=name,
        process=type_.bind_processor(dialect),
        floats=_python_type(type_) is float,
        array=_ARRAYS[pg_type] if pg_type else list,
    )


def _python_type(type_: TypeEngine[Any]) -> type | None:
    try:
        kind: type = type_.python_type
    except NotImplementedError:
        return None
    return kind


class TypedArray(TypeDecorator[Any]):
    """PostgreSQL ``ARRAY`` of ``item_type`` whose values reach psycopg as a :class:`PgArray`
    (after the item type's bind processing). ``ARRAY``'s own processing hands the driver a
    plain list, which psycopg scans element by element and, as a ``%s`` parameter, dumps as
    text: 64 timestamps cost 0.2 ms, the typed array 0.01."""

    impl = ARRAY
    cache_ok = True

    def __init__(self, item_type: TypeEngine[Any]) -> None:
        super().__init__(item_type)
        self.item_type = item_type

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        # Replaces the processing of ``impl`` (which makes the list) instead of adding to it.
        param = _typed_param("", self.item_type, dialect)

        def process(value: Any) -> Any:
            return None if value is None else param.bind(list(value))

        return process


def _params(plan: _Plan, rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    params = {p.name: p.bind([row[p.name] for row in rows]) for p in plan.given}
    for p in plan.defaults:
        default: Any = p.column.default
        if getattr(default, "is_callable", False):
            values = [default.arg(None) for _ in rows]
        else:
            values = [default.arg] * len(rows)
        params[p.name] = p.bind(values)
    return params


def insert_unnest(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: tuple[str, ...] | None = None,
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` (PostgreSQL); ``conflict``: ON CONFLICT (those columns) DO NOTHING.
    Returns the ``returning`` columns of the rows inserted."""
    if not rows:
        return []
    given = tuple(rows[0])

    def sql(casts: str, names: tuple[str, ...]) -> str:
        text = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({casts})"  # noqa: S608
        if conflict:
            text += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        return text + f" RETURNING {', '.join(returning)}"

    plan = _plan(table, connection.dialect, given, (conflict, returning), sql, defaults=True)
    # The driver's own placeholders (``%(name)b``): the arrays travel in binary, which the
    # driver dumps several times faster than escaping each element into a text array.
    return [tuple(r) for r in connection.exec_driver_sql(plan.sql, _params(plan, rows))]


def insert_together(
    connection: Connection,
    parts: Sequence[tuple[Table, Sequence[dict[str, Any]]]],
    *,
    returning: tuple[str, ...] = ("id",),
    updates: Sequence[tuple[Table, Sequence[dict[str, Any]], str]] = (),
    conflict: tuple[str, ...] | None = None,
) -> list[tuple[Any, ...]]:
    """INSERT rows into several tables (``parts``: each table with its rows, every row of a
    part with the same keys; parts without rows are left out), in order, after ``updates``
    (each table with its rows and their key, as :func:`update_rows`); the ``returning``
    columns of the last part's rows, in no promised order. ``conflict``: the last part's rows
    are ON CONFLICT (those columns) DO NOTHING, as :func:`insert_rows`'s (only the rows
    inserted come back).

    On PostgreSQL one statement: each update and each part but the last a data-modifying
    ``WITH`` of the :func:`update_rows` or :func:`insert_unnest` form, their parameters
    prefixed by their place (``u0_``…, ``p0_``…) — one round trip and one statement's client
    work for all of them, where each statement costs the driver and SQLAlchemy about as much as
    its rows. Elsewhere :func:`update_rows` and :func:`insert_rows` each."""
    parts = [(table, rows) for table, rows in parts if rows]
    updates = [(table, rows, key) for table, rows, key in updates if rows]
    if not parts or connection.dialect.name != "postgresql":
        for table, rows, key in updates:
            update_rows(connection, table, rows, key=key)
        for table, rows in parts[:-1]:
            insert_rows(connection, table, rows)
        if not parts:
            return []
        return insert_rows(connection, *parts[-1], conflict=conflict, returning=returning)
    texts: list[str] = []
    params: dict[str, list[Any]] = {}
    for k, (table, rows, key) in enumerate(updates):
        prefix = f"u{k}_"
        plan = _update_plan(table, connection.dialect, tuple(rows[0]), key, prefix)
        texts.append(plan.sql)
        params.update({prefix + name: values for name, values in _params(plan, rows).items()})
    for k, (table, rows) in enumerate(parts):
        prefix = f"p{k}_"

        def sql(casts: str, names: tuple[str, ...], table: Table = table) -> str:
            return f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({casts})"  # noqa: S608

        given = tuple(rows[0])
        plan = _plan(
            table, connection.dialect, given, ("with", prefix), sql, defaults=True, prefix=prefix
        )
        texts.append(plan.sql)
        params.update({prefix + name: values for name, values in _params(plan, rows).items()})
    *first, last = texts
    head = ", ".join(f"w{k} AS ({text})" for k, text in enumerate(first))
    if conflict:
        last += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    statement = (f"WITH {head} " if head else "") + f"{last} RETURNING {', '.join(returning)}"
    return [tuple(r) for r in connection.exec_driver_sql(statement, params)]


_CORE: dict[tuple[str, str, tuple[str, ...] | None, tuple[str, ...]], Any] = {}


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: tuple[str, ...] | None = None,
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` in one statement on either database (every row with the same keys):
    :func:`insert_unnest` on PostgreSQL, a Core multi-row insert elsewhere. ``conflict``: ON
    CONFLICT (those columns) DO NOTHING. Returns the ``returning`` columns of the rows inserted,
    in no promised order. A Core statement on the connection, built once per shape: the ORM's
    unit of work costs more than the insert itself on the ingest path."""
    if not rows:
        return []
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return insert_unnest(connection, table, rows, conflict=conflict, returning=returning)
    key = (dialect, table.name, conflict, returning)
    stmt = _CORE.get(key)
    if stmt is None:
        base: Any = sqlite_insert(table) if dialect == "sqlite" else insert(table)
        if conflict:
            base = base.on_conflict_do_nothing(index_elements=list(conflict))
        stmt = _CORE[key] = base.returning(*(table.c[c] for c in returning))
    return [tuple(r) for r in connection.execute(stmt, list(rows))]


def update_rows(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, key: str
) -> None:
    """UPDATE many rows by ``key`` (every row with the same columns, the key among them), in
    one statement on PostgreSQL (``UPDATE … FROM unnest(…)``: one array per column, as
    :func:`insert_unnest`), an executemany elsewhere."""
    if not rows:
        return
    names = tuple(rows[0])
    sets = [n for n in names if n != key]
    if connection.dialect.name != "postgresql":
        stmt = (
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({n: bindparam(n) for n in sets})
        )
        connection.execute(stmt, [{**r, f"b_{key}": r[key]} for r in rows])
        return

    plan = _update_plan(table, connection.dialect, names, key)
    connection.exec_driver_sql(plan.sql, _params(plan, rows))


def _update_plan(
    table: Table, dialect: Dialect, names: tuple[str, ...], key: str, prefix: str = ""
) -> _Plan:
    """:func:`update_rows`'s statement on PostgreSQL (``prefix``: as :func:`_plan`'s)."""
    sets = [n for n in names if n != key]

    def sql(casts: str, columns: tuple[str, ...]) -> str:
        assigns = ", ".join(f"{n} = v.{n}" for n in sets)
        return (
            f"UPDATE {table.name} SET {assigns} FROM unnest({casts}) "  # noqa: S608
            f"AS v({', '.join(columns)}) WHERE {table.name}.{key} = v.{key}"
        )

    shape = ("update", key, prefix)
    return _plan(table, dialect, names, shape, sql, defaults=False, prefix=prefix)


class OneOf(ColumnElement[bool]):
    """``column`` is one of the values of the list parameter ``name`` (:func:`one_of`)."""

    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's cache key reads it from the class
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: Any, name: str) -> None:
        self.column = column
        self.name = name

    def self_group(self, against: Any = None) -> Any:
        return self  # already a condition: no ``= 1`` where booleans are integers


def one_of(column: Any, name: str) -> OneOf:
    """A condition: ``column`` is one of the values of the list parameter ``name``, given at
    execution (``{name: [...]}``).

    On PostgreSQL ``column = ANY(%(name)s)``: one array parameter, so the statement's text is
    the same for 1 value or 64 — the driver keeps its parsed form (psycopg parses again any
    statement of more than 50 parameters, as ``IN (…)`` with one per value is at 64) and the
    server its plan. Elsewhere an expanding ``IN``. Build the statement once (module level):
    building and keying one per batch cost more client time than running it."""
    return OneOf(column, name)


@compiles(OneOf)
def _in_list(element: OneOf, compiler: Any, **kw: Any) -> str:
    expanding = element.column.in_(bindparam(element.name, expanding=True))
    return str(compiler.process(expanding, **kw))


@compiles(OneOf, "postgresql")
def _any_of_array(element: OneOf, compiler: Any, **kw: Any) -> str:
    array = bindparam(element.name, type_=TypedArray(element.column.type))
    return str(compiler.process(element.column == any_(array), **kw))
