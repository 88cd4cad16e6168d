"""Tables of the case desk and its connectors' outbox (migration 0003).

They subclass :class:`shore_gateway.tables.GatewayModel`, so they share the gateway's metadata
and its naming convention; :mod:`shore_gateway.schema` imports this module (and every other
table module) for Alembic and the models-vs-migrations test. The web login's tables, created by
the same migration, are in :mod:`shore_gateway.web.models`.

Guarantees that hold across several gateway processes rest on unique constraints:

- ``case_grievances.grievance_id`` is unique: a grievance belongs to one case, once.
- ``case_outbox`` UNIQUE (connector, idempotency_key): a case change is queued once per connector.
- ``cases.ref`` and ``cases.external_id`` are unique.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from shore_gateway.tables import GatewayModel, created_now, optional_time


class Case(GatewayModel, table=True):
    """A case on the built-in desk: one or more grievances from one vessel about one matter."""

    __tablename__: ClassVar[str] = "cases"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, max_length=16)  # "C-000042"
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    category: int  # the category of the grievance that opened it
    urgent: bool = False
    status: str = Field(default="new", max_length=32, index=True)
    assignee: str | None = Field(default=None, max_length=120)
    opened_at: dt.datetime = created_now()
    updated_at: dt.datetime = created_now()
    due_at: dt.datetime | None = optional_time(index=True)  # response due (acknowledge by)
    acknowledged_at: dt.datetime | None = optional_time()
    closed_at: dt.datetime | None = optional_time()
    # Client-supplied UUID under which external case systems (Primero) know this case.
    external_id: str = Field(unique=True, max_length=36)


class CaseGrievance(GatewayModel, table=True):
    """Which grievances a case holds; ``ref_seq`` is the crew message's seq (for downlinks)."""

    __tablename__: ClassVar[str] = "case_grievances"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    grievance_id: int = Field(foreign_key="grievances.id", unique=True)
    ref_seq: int
    joined_at: dt.datetime = created_now()
    withdrawn_at: dt.datetime | None = optional_time()


class CaseAction(GatewayModel, table=True):
    """A remediation action ("pay arrears", "return passport", …) with deadline and evidence."""

    __tablename__: ClassVar[str] = "case_actions"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    kind: str = Field(max_length=32)
    description: str = Field(default="", sa_type=Text)
    due_at: dt.datetime | None = optional_time()
    done_at: dt.datetime | None = optional_time()
    evidence: str = Field(default="", sa_type=Text)
    created_by: str = Field(max_length=120)
    created_at: dt.datetime = created_now()


class AuditEntry(GatewayModel, table=True):
    """Who did or saw what, when. Append-only; ``detail`` is JSON and never holds crew text."""

    __tablename__: ClassVar[str] = "audit_log"
    __table_args__ = (Index("ix_audit_log_case_time", "case_id", "time"),)

    id: int | None = Field(default=None, primary_key=True)
    time: dt.datetime = created_now()
    actor: str = Field(max_length=120)
    action: str = Field(max_length=32, index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    grievance_id: int | None = Field(default=None, foreign_key="grievances.id", index=True)
    vessel_id: int | None = Field(default=None, foreign_key="vessels.id")
    detail: str = Field(default="{}", sa_type=Text)


class OutboxEntry(GatewayModel, table=True):
    """A delivery owed to a connector, written in the same transaction as the case change."""

    __tablename__: ClassVar[str] = "case_outbox"
    __table_args__ = (
        UniqueConstraint("connector", "idempotency_key"),
        Index("ix_case_outbox_pending", "connector", "delivered_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connector: str = Field(max_length=16)  # mqtt | primero
    kind: str = Field(max_length=24)  # case_new | case_update | mark_synced
    case_id: int = Field(foreign_key="cases.id", index=True)
    idempotency_key: str = Field(max_length=120)
    payload: str = Field(sa_type=Text)  # JSON
    created_at: dt.datetime = created_now()
    attempts: int = 0
    next_attempt_at: dt.datetime | None = optional_time()
    delivered_at: dt.datetime | None = optional_time()
    last_error: str | None = Field(default=None, max_length=200)


class EarlyWithdrawal(GatewayModel, table=True):
    """A crew withdrawal that reached shore before the grievance it names (frames may overtake
    each other): applied when that grievance arrives (migration 0006)."""

    __tablename__: ClassVar[str] = "early_withdrawals"
    __table_args__ = (UniqueConstraint("vessel_id", "ref_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    ref_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    received_at: dt.datetime = created_now()
