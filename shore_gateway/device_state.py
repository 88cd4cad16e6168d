"""Per-vessel protocol state in the store: locked once per batch, advanced, written back.

This is the SQL store of the shore core: what the state *means* — prefix, gaps and their
declared-loss labels, the chain, the alerts that follow — is decided by
:mod:`protocol.shorecore` (the same functions :class:`protocol.shore.ShoreSession` runs in
memory); this module only loads, locks and writes the rows.

``device_state`` is a cache the pipeline keeps current from ``messages``: the cumulative prefix
(what an ack may claim), the highest seq seen, the ranges still missing (alerted once) and the
device hash chain recomputed as far as it is contiguous. The row is locked before anything is
written for its vessel, so arrivals for one vessel are applied one batch at a time across every
gateway process; several vessels are locked in ascending id order, so two batches never wait on
each other in a cycle.

Rows travel as plain :class:`State` values through Core statements built once (one SELECT,
one UPDATE per batch): the ORM's identity map and unit of work, and building a statement
afresh, cost more than the arithmetic on this hot path. The vessel's heartbeat checkpoints
(``chain_claims``, :class:`Claim`) come with its state row in the locking SELECT: only a
transaction holding that lock adds or settles them, so the batch keeps them current itself
(:meth:`State.claims`) instead of reading them again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete as core_delete
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select
from sqlmodel import update as orm_update

from protocol import shorecore
from protocol.shorecore import Verdict
from shore_gateway.bulk import one_of
from shore_gateway.models import (
    Alert,
    AlertKind,
    ChainClaim,
    DeviceState,
    FragmentPart,
    Message,
    utcnow,
)

_TABLE: Any = DeviceState.__table__  # type: ignore[attr-defined]
_CLAIMS: Any = ChainClaim.__table__  # type: ignore[attr-defined]
_COLUMNS = ("prefix", "highest", "chain_seq", "chain_value", "queue_depth", "last_contact")
_STORED = (*_COLUMNS, "missing", "declared")
_SELECT = (
    core_select(
        _TABLE.c.vessel_id,
        *(_TABLE.c[c] for c in _STORED),
        _CLAIMS.c.id,
        _CLAIMS.c.last_seq,
        _CLAIMS.c.chain,
    )
    .select_from(_TABLE.outerjoin(_CLAIMS, _CLAIMS.c.vessel_id == _TABLE.c.vessel_id))
    .where(one_of(_TABLE.c.vessel_id, "ids"))
    .order_by(_TABLE.c.vessel_id)
    .with_for_update(of=_TABLE)
)
# New rows come back from their INSERT (locked: this transaction made them); one another
# transaction made meanwhile does not, and is selected (and locked) after it.
_INSERT = {
    name: insert(_TABLE)
    .on_conflict_do_nothing()
    .returning(_TABLE.c.vessel_id, *(_TABLE.c[c] for c in _STORED))
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_DELETE_CLAIMS = core_delete(_CLAIMS).where(one_of(_CLAIMS.c.id, "ids"))


@dataclass(slots=True)
class State:
    """One ``device_state`` row, as the pipeline works on it."""

    vessel_id: int
    prefix: int = 0
    highest: int = 0
    chain_seq: int = 0
    chain_value: bytes = bytes(8)
    queue_depth: int | None = None
    last_contact: dt.datetime | None = None
    missing: str = "[]"  # JSON [[first, last(, reason)], ...] last alerted
    declared: str = "[]"  # JSON [[first, last, reason], ...] the vessel's own claims
    claims: list[Claim] = field(default_factory=list)  # heartbeat checkpoints (not a column)

    def claimed(self, claim_id: int, last_seq: int, chain: bytes) -> None:
        """A heartbeat checkpoint this transaction stored for the vessel."""
        self.claims.append(Claim(claim_id, last_seq, chain))


@dataclass(frozen=True, slots=True)
class Claim:
    """A heartbeat checkpoint waiting for the chain (a ``chain_claims`` row)."""

    id: int
    last_seq: int
    chain: bytes


def lock(session: Session, vessel_ids: Iterable[int]) -> dict[int, State]:
    """The vessels' state rows, created when new, locked for this transaction."""
    ids = sorted(set(vessel_ids))
    states = _select(session, ids)
    new = [vid for vid in ids if vid not in states]
    if new:
        connection = session.connection()
        rows = [{**_defaults(), "vessel_id": vid} for vid in new]
        for vessel_id, *stored in connection.execute(_INSERT[connection.dialect.name], rows):
            states[vessel_id] = State(vessel_id, **dict(zip(_STORED, stored, strict=True)))
        others = [vid for vid in new if vid not in states]
        if others:
            states.update(_select(session, others))
    return states


def _defaults() -> dict[str, Any]:
    blank = State(vessel_id=0)
    return {c: getattr(blank, c) for c in _STORED} | {"ack_due": False}


def _select(session: Session, ids: list[int]) -> dict[int, State]:
    """The state rows, locked, each with its checkpoints (a row per checkpoint, or one)."""
    states: dict[int, State] = {}
    for vessel_id, *stored, claim_id, last_seq, chain in session.connection().execute(
        _SELECT, {"ids": ids}
    ):
        state = states.get(vessel_id)
        if state is None:
            state = states[vessel_id] = State(vessel_id, **dict(zip(_STORED, stored, strict=True)))
        if claim_id is not None:
            state.claimed(claim_id, last_seq, chain)
    return states


def saved(states: Iterable[State]) -> tuple[Any, list[dict[str, Any]], str]:
    """The update that writes the states back and marks each vessel as owed an ack: the table,
    its rows and their key, for :func:`shore_gateway.bulk.insert_together` (the batch sends it
    with the raw arrivals' insert: a statement of its own cost a round trip per batch)."""
    rows = [
        {"vessel_id": s.vessel_id, "ack_due": True} | {c: getattr(s, c) for c in _STORED}
        for s in states
    ]
    return _TABLE, rows, "vessel_id"


def advance(
    session: Session,
    vessel_id: int,
    name: str,
    state: State,
    added: Mapping[int, bytes | None],
    *,
    complete: bool,
    declared: Iterable[tuple[int, int, int]] = (),
) -> None:
    """Move prefix, highest, missing ranges and the chain over what arrived
    (:func:`protocol.shorecore.advance`), then write what follows: gap alerts opened or
    closed, chain mismatches alerted, settled heartbeat checkpoints deleted.

    ``added`` is what this transaction stored for the vessel (seq → digest); ``complete`` says
    it is all that changed (no fragments moved). The core reads the messages and pending
    fragments above the prefix back only when it must; ``declared`` are ranges this batch's
    heartbeats declared lost (element 6).
    """
    p = shorecore.Progress(
        prefix=state.prefix,
        highest=state.highest,
        chain_seq=state.chain_seq,
        chain_value=state.chain_value,
        missing=json.loads(state.missing) if state.missing != "[]" else [],
        declared=_declared(state.declared),
    )

    def history(after: int) -> tuple[dict[int, bytes | None], set[int]]:
        above = session.exec(
            select(Message.seq, Message.digest)
            .where(Message.vessel_id == vessel_id, col(Message.seq) > after)
            .order_by(col(Message.seq))
        ).all()
        pending = session.exec(select(FragmentPart.seq).where(FragmentPart.vessel_id == vessel_id))
        return dict(above), set(pending.all())

    claims = state.claims
    by_seq = {c.last_seq: c for c in claims}
    out = shorecore.advance(
        p,
        added,
        complete=complete,
        history=history,
        recompute=lambda upto: recompute_chain(session, vessel_id, upto),
        declared=declared,
        claims=[(c.last_seq, c.chain) for c in claims],
    )
    state.prefix, state.highest = p.prefix, p.highest
    state.chain_seq, state.chain_value = p.chain_seq, p.chain_value
    if p.missing or state.missing != "[]":
        state.missing = json.dumps(p.missing)
    if p.declared or state.declared != "[]":
        state.declared = json.dumps([list(r) for r in p.declared])
    if out.gaps_resolved:
        session.execute(
            orm_update(Alert)
            .where(
                col(Alert.vessel_id) == vessel_id,
                col(Alert.kind) == AlertKind.GAP,
                col(Alert.resolved_at).is_(None),
            )
            .values(resolved_at=utcnow())
        )
    if out.gap_alert is not None:
        since = state.last_contact.isoformat() if state.last_contact else None
        detail = shorecore.gap_text(name, out.gap_alert, highest=p.highest, last_contact=since)
        session.add(Alert(vessel_id=vessel_id, kind=AlertKind.GAP, detail=detail))
    settled = []
    for last_seq, verdict in out.checked:
        if verdict is Verdict.MISMATCHED:
            detail = shorecore.chain_text(name, last_seq)
            session.add(Alert(vessel_id=vessel_id, kind=AlertKind.CHAIN, detail=detail))
        settled.append(by_seq[last_seq].id)
    if settled:
        session.connection().execute(_DELETE_CLAIMS, {"ids": settled})


def _declared(raw: str) -> list[tuple[int, int, int]]:
    if raw == "[]":
        return []
    return [(int(a), int(b), int(r)) for a, b, r in json.loads(raw)]


def recompute_chain(session: Session, vessel_id: int, upto: int) -> bytes | None:
    """The chain value at ``upto`` from genesis (None if a message up to it is missing)."""
    rows = session.exec(
        select(Message.seq, Message.digest)
        .where(Message.vessel_id == vessel_id, col(Message.seq) <= upto)
        .order_by(col(Message.seq))
    ).all()
    return shorecore.chain_from(rows, upto)
