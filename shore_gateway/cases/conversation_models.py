"""Tables of case conversations (migration 0010; logic in :mod:`shore_gateway.cases.conversation`).

:mod:`shore_gateway.schema` imports this module, so the gateway's metadata, as Alembic and the
models-vs-migrations test see it, holds these tables.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import BigInteger, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field

from shore_gateway.tables import GatewayModel, created_now, optional_time


class ReplyKey(GatewayModel, table=True):
    """The public reply key a grievance carried (its private half is with the crew member)."""

    __tablename__: ClassVar[str] = "reply_keys"
    __table_args__ = (UniqueConstraint("vessel_id", "ref_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    ref_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: dt.datetime = created_now()


class CaseMessage(GatewayModel, table=True):
    """One message of a case's conversation, either way. ``id`` is the wire's message id."""

    __tablename__: ClassVar[str] = "case_messages"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    # the grievance (crew member) it is with
    ref_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    direction: str = Field(max_length=8)  # "to_crew" | "from_crew"
    text: str = Field(sa_type=Text)
    lang: str = Field(max_length=8)
    template: str | None = Field(default=None, max_length=32)
    author: str | None = Field(default=None, max_length=120)  # staff user for questions
    created_at: dt.datetime = created_now()
    parts: int = 0
    downlinks: str = Field(default="", max_length=400)  # ids of its downlinks rows
    sent_at: dt.datetime | None = optional_time()
    on_board_at: dt.datetime | None = optional_time()
    read_at: dt.datetime | None = optional_time()
    message_id: int | None = Field(default=None, foreign_key="messages.id", unique=True)
