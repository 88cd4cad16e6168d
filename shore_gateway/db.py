"""Engines, sessions and migrations.

SQLite (the embedded default) gets WAL, ``synchronous=FULL`` and foreign keys on every
connection; PostgreSQL (``postgresql+psycopg://…``) is what several gateway processes share (a
pooled connection the server ended is replaced at checkout, without a ping's round trip).
The schema is owned by Alembic (``shore_gateway/migrations``, shipped inside the package):
:func:`upgrade` brings any database to head and is safe to call from several processes at once
(on PostgreSQL it holds an advisory lock while migrating).
"""

from __future__ import annotations

import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from shore_gateway.bulk import insert_rows, register_arrays

DEFAULT_URL = "sqlite:///flip-gateway.sqlite3"
MIGRATIONS = "shore_gateway:migrations"
# Any constant will do; it only has to be the same in every gateway process.
_PG_MIGRATION_LOCK = 0x666C6970  # "flip"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the gateway's connection settings.

    Raises ``sqlalchemy.exc.ArgumentError`` for an unusable URL.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    psycopg = parsed.get_driver_name() == "psycopg"
    kwargs.setdefault("pool_pre_ping", not psycopg)  # psycopg: _psycopg_alive instead
    engine = create_engine(parsed, **kwargs)
    if psycopg:
        event.listen(engine, "connect", _psycopg_arrays)
        event.listen(engine, "checkout", _psycopg_alive)
    return engine


def _psycopg_arrays(dbapi_conn: Any, _record: Any) -> None:
    # The bulk statements' arrays with their types known up front (shore_gateway.bulk).
    register_arrays(dbapi_conn.adapters)


def _psycopg_alive(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    # A pooled connection the server ended (restart, idle timeout, pg_terminate_backend) is
    # replaced at checkout, as ``pool_pre_ping`` would, but without its round trip per batch
    # ("SELECT 1" costs as much as a small statement): the server's last word (its FATAL
    # message, then the close) is already waiting on an idle connection's socket, so a socket
    # with anything to read, or one the driver knows is closed, is dropped. A peer that
    # vanished without a word is found by the first statement, as the ping would find it:
    # that batch rolls back and is taken again, and the pool reconnects.
    if dbapi_conn.closed or dbapi_conn.broken:
        raise exc.DisconnectionError("connection closed")
    poll = select.poll()
    poll.register(dbapi_conn.fileno(), select.POLLIN)
    if poll.poll(0):
        raise exc.DisconnectionError("the server ended the connection")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over
    # (the SQLAlchemy "pysqlite serializable isolation / savepoints" recipe).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
    finally:
        cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    # writes can fail with SQLITE_BUSY at once when another writer got in between, whatever
    # the busy timeout. Writes are short, so serialising them costs little.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine | None = None) -> Any:
    """An Alembic ``Config`` that finds the packaged migrations (no ini file, no repo path)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: head). Idempotent, concurrency-safe."""
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                try:
                    cfg = alembic_config(engine)
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    conn.commit()
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    conn.commit()
        else:
            command.upgrade(alembic_config(engine), revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class Database:
    """The gateway's handle on its store: an engine plus a session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)

    def migrate(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any exception."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def insert_ignore(
    session: Session,
    model: Any,
    rows: Sequence[dict[str, Any]],
    unique: tuple[str, ...],
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING for many rows of ``model``'s table in one
    statement, in the caller's transaction: the ``returning`` columns of the rows that were new
    (a row whose unique key exists — the exactly-once guard — returns nothing). Same on SQLite
    and PostgreSQL (:func:`shore_gateway.bulk.insert_rows`).
    """
    return insert_rows(
        session.connection(), model.__table__, rows, conflict=unique, returning=returning
    )
