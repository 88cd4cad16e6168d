"""Alembic environment: runs migrations on the engine/connection the caller hands over.

Called through :func:`shore_gateway.db.upgrade`; there is no alembic.ini, the script location
is the package resource ``shore_gateway:migrations``.
"""

from __future__ import annotations

from alembic import context

from shore_gateway.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = config.attributes.get("engine")
    if engine is None:
        from shore_gateway.db import make_engine

        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no engine, connection or sqlalchemy.url given to migrations")
        engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run()
