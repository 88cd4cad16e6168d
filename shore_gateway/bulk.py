"""Many rows in one INSERT on PostgreSQL, with a statement text that does not grow with them.

SQLAlchemy sends an executemany with RETURNING as one multi-row ``VALUES (…), (…), …``
statement: 64 grievances make a 35 KB statement with over a thousand placeholders, which the
driver parses again on every batch (psycopg caches only short statements) and the server plans
again — on the ingest path that cost more than verifying and decrypting the frames. Here each
column travels as one array parameter instead::

    INSERT INTO t (a, b) SELECT * FROM unnest(CAST(%(a)s AS INTEGER[]), CAST(%(b)s AS BYTEA[]))
    ON CONFLICT (a) DO NOTHING RETURNING id, a

— the same text for 1 row or 500, parsed once per process. Values go through each column's
SQLAlchemy bind processing (e.g. :class:`~shore_gateway.models.UtcDateTime`), and columns the
rows leave out get their Python-side defaults, as a Core insert would give them. Rows come back
in no promised order: callers match them by the columns they ask for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
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
            f"CAST(:{n} AS {table.c[n].type.compile(dialect=dialect)}[])" for n in names
        )
        # Identifiers and types come from the table metadata, values only from parameters.
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({casts})"  # noqa: S608
        if conflict:
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        sql += f" RETURNING {', '.join(returning)}"
        stmt = _SQL[key] = text(sql)
    params: dict[str, list[Any]] = {}
    for name in given:
        process = table.c[name].type.bind_processor(dialect)
        values = [row[name] for row in rows]
        params[name] = [process(v) for v in values] if process else values
    for column in defaults:
        default: Any = column.default
        if getattr(default, "is_callable", False):
            values = [default.arg(None) for _ in rows]
        else:
            values = [default.arg] * len(rows)
        process = column.type.bind_processor(dialect)
        params[column.name] = [process(v) for v in values] if process else values
    return [tuple(r) for r in connection.execute(stmt, params)]
