"""Tables of the web login: browser sessions, failed-login records, password hashes
(created by migration 0003 with the case desk's tables; used by :mod:`shore_gateway.web.auth`)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field

from shore_gateway.tables import GatewayModel, created_now


class WebSession(GatewayModel, table=True):
    """A browser session. Only SHA-256 of the cookie value is stored (like bearer tokens)."""

    __tablename__: ClassVar[str] = "web_sessions"

    id: int | None = Field(default=None, primary_key=True)
    sid_sha256: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, unique=True))
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf: str = Field(max_length=64)
    created_at: dt.datetime = created_now()
    expires_at: dt.datetime = created_now()
    lang: str = Field(default="en", max_length=8)


class LoginAttempt(GatewayModel, table=True):
    """A failed login, kept briefly for rate limiting (shared by every gateway process)."""

    __tablename__: ClassVar[str] = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_name_time", "name", "time"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    client: str = Field(max_length=64, index=True)
    time: dt.datetime = created_now()


class UserPassword(GatewayModel, table=True):
    """An argon2id hash of a user's password (optional: users may also log in with a token)."""

    __tablename__: ClassVar[str] = "user_passwords"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    argon2: str = Field(max_length=200)
    updated_at: dt.datetime = created_now()
