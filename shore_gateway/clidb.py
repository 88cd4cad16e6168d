"""The ``--db`` option every ``flip gateway`` command shares, and opening it (migrated)."""

from __future__ import annotations

import argparse
from typing import Any

from flip.output import CommandError

DEFAULT_DB = "sqlite:///flip-gateway.sqlite3"


def db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=DEFAULT_DB, help="SQLAlchemy URL (sqlite:///FILE or postgresql+psycopg://…)"
    )


def open_db(url: str) -> Any:
    from sqlalchemy.exc import ArgumentError, OperationalError

    from shore_gateway.db import Database

    try:
        db = Database(url)
        db.migrate()
    except ArgumentError as exc:
        raise CommandError(f"bad --db URL: {exc}") from None
    except OperationalError as exc:
        raise CommandError(f"database unreachable: {str(exc.orig).strip()}") from None
    return db
