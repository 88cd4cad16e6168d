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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

_SQL: dict[tuple[str, tuple[str, ...], tuple[str, ...] | None, tuple[str, ...]], Any] = {}


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
    dialect = connection.dialect
    given = tuple(rows[0])
    defaults = [
        c
        for c in table.columns
        if c.name not in given and c.default is not None and not c.primary_key
    ]
    names = given + tuple(c.name for c in defaults)
    key = (table.name, names, conflict, returning)
    stmt = _SQL.get(key)
    if stmt is None:
        casts = ", ".join(
            f"CAST(%({n})b AS {table.c[n].type.compile(dialect=dialect)}[])" for n in names
        )
        # Identifiers and types come from the table metadata, values only from parameters.
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({casts})"  # noqa: S608
        if conflict:
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        sql += f" RETURNING {', '.join(returning)}"
        stmt = _SQL[key] = sql
    params: dict[str, list[Any]] = {}
    for name in given:
        params[name] = _bind(table.c[name], [row[name] for row in rows], dialect)
    for column in defaults:
        default: Any = column.default
        if getattr(default, "is_callable", False):
            values = [default.arg(None) for _ in rows]
        else:
            values = [default.arg] * len(rows)
        params[column.name] = _bind(column, values, dialect)
    # The driver's own placeholders (``%(name)b``): the arrays travel in binary, which the
    # driver dumps several times faster than escaping each element into a text array.
    return [tuple(r) for r in connection.exec_driver_sql(stmt, params)]


def _bind(column: Any, values: list[Any], dialect: Any) -> list[Any]:
    """``values`` as the driver should get them: through the column's bind processing, and
    floats as floats (a binary array holds one element type; ``1`` and ``1.5`` are two)."""
    process = column.type.bind_processor(dialect)
    if process:
        values = [process(v) for v in values]
    if _python_type(column) is float:
        values = [None if v is None else float(v) for v in values]
    return values


def _python_type(column: Any) -> type | None:
    try:
        kind: type = column.type.python_type
    except NotImplementedError:
        return None
    return kind


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
    cache = (table.name, names, ("update", key), ())
    sql = _SQL.get(cache)
    if sql is None:
        dialect = connection.dialect
        casts = ", ".join(
            f"CAST(%({n})b AS {table.c[n].type.compile(dialect=dialect)}[])" for n in names
        )
        assigns = ", ".join(f"{n} = v.{n}" for n in sets)
        # Identifiers and types come from the table metadata, values only from parameters.
        sql = _SQL[cache] = (
            f"UPDATE {table.name} SET {assigns} FROM unnest({casts}) AS v({', '.join(names)}) "  # noqa: S608
            f"WHERE {table.name}.{key} = v.{key}"
        )
    params = {n: _bind(table.c[n], [r[n] for r in rows], connection.dialect) for n in names}
    connection.exec_driver_sql(sql, params)
