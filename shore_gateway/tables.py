"""The base of every gateway table: one metadata with a fixed naming convention, aware-UTC times.

The tables live on their own SQLAlchemy registry/metadata (not SQLModel's global one), so other
packages' tables never end up in the gateway's migrations. Constraint names follow a fixed naming
convention, which Alembic needs to alter them later (and SQLite's batch mode needs to copy them).

The tables themselves are defined next to the code that owns them (:mod:`shore_gateway.models`,
:mod:`shore_gateway.cases.models`, :mod:`shore_gateway.cases.conversation_models`,
:mod:`shore_gateway.web.models`); :mod:`shore_gateway.schema` imports them all, for Alembic and
the models-vs-migrations test. This module imports none of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC (the only kind of datetime the gateway stores)."""
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC and made aware again on the way out. Naive input is refused: a naive time at this
    boundary is a bug, not an assumption to make silently.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("UtcDateTime needs a timezone-aware datetime")
        utc: dt.datetime = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if not isinstance(value, dt.datetime):
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def optional_time(*, index: bool = False) -> Any:
    """A nullable :class:`UtcDateTime` column (``None`` until set)."""
    return Field(default=None, sa_column=Column(UtcDateTime(), index=index, nullable=True))


def created_now() -> Any:
    """A non-null :class:`UtcDateTime` column set to :func:`utcnow` when the object is made."""
    return Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class GatewayModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of every gateway table (own metadata, see module docstring)."""
