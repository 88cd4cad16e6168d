"""Tables of case conversations (migration 0010; logic in :mod:`shore_gateway.cases.conversation`).

Imported at the end of :mod:`shore_gateway.cases.models`, so the gateway's metadata (Alembic,
the models-vs-migrations test) holds them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field

from shore_gateway.models import GatewayModel, UtcDateTime, utcnow


def _time(*, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), index=index, nullable=True))


class ReplyKey(GatewayModel, table=True):
    """The public reply key a grievance carried (its private half is with the crew member)."""

    __tablename__: ClassVar[str] = "reply_keys"
    __table_args__ = (UniqueConstraint("vessel_id", "ref_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    ref_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: dt.datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


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
    created_at: dt.datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    parts: int = 0
    downlinks: str = Field(default="", max_length=400)  # ids of its downlinks rows
    sent_at: dt.datetime | None = _time()
    on_board_at: dt.datetime | None = _time()
    read_at: dt.datetime | None = _time()
    message_id: int | None = Field(default=None, foreign_key="messages.id", unique=True)
