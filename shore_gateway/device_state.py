"""Per-vessel protocol state in the store: locked once per batch, advanced, written back.

``device_state`` is a cache the pipeline keeps current from ``messages``: the cumulative prefix
(what an ack may claim), the highest seq seen, the ranges still missing (alerted once) and the
device hash chain recomputed as far as it is contiguous. The row is locked before anything is
written for its vessel, so arrivals for one vessel are applied one batch at a time across every
gateway process; several vessels are locked in ascending id order, so two batches never wait on
each other in a cycle.

Rows travel as plain :class:`State` values through Core statements (one SELECT, one
executemany UPDATE per batch): the ORM's identity map and unit of work cost more than the
arithmetic on this hot path.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select
from sqlmodel import update as orm_update

from protocol import chain
from protocol.seqranges import minus
from shore_gateway.models import Alert, ChainClaim, DeviceState, FragmentPart, Message, utcnow

MAX_GAP_RANGES = 64
#: Declared ranges kept per vessel (the lowest: nearest the prefix, where gaps are alerted).
MAX_DECLARED_RANGES = 1024
#: How a gap inside a range the vessel declared is labelled (heartbeat element 6 reasons).
DECLARED_LABELS = {
    1: "evicted on board (storage full)",
    2: "lost to outbox damage",
    3: "skipped after recovery",
}

_TABLE: Any = DeviceState.__table__  # type: ignore[attr-defined]
_COLUMNS = ("prefix", "highest", "chain_seq", "chain_value", "queue_depth", "last_contact")
_STORED = (*_COLUMNS, "missing", "declared")


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


def lock(session: Session, vessel_ids: Iterable[int]) -> dict[int, State]:
    """The vessels' state rows, created when new, locked for this transaction."""
    ids = sorted(set(vessel_ids))
    states = _select(session, ids)
    new = [vid for vid in ids if vid not in states]
    if new:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.connection().execute(
            insert(_TABLE).on_conflict_do_nothing(),
            [{**_defaults(), "vessel_id": vid} for vid in new],
        )
        states.update(_select(session, new))
    return states


def _defaults() -> dict[str, Any]:
    blank = State(vessel_id=0)
    return {c: getattr(blank, c) for c in _STORED} | {"ack_due": False}


def _select(session: Session, ids: list[int]) -> dict[int, State]:
    rows = session.connection().execute(
        core_select(_TABLE.c.vessel_id, *(_TABLE.c[c] for c in _STORED))
        .where(_TABLE.c.vessel_id.in_(ids))
        .order_by(_TABLE.c.vessel_id)
        .with_for_update()
    )
    return {row.vessel_id: State(**row._asdict()) for row in rows}


_SAVE = (
    update(_TABLE)
    .where(_TABLE.c.vessel_id == bindparam("b_vessel_id"))
    .values({c: bindparam(c) for c in _STORED} | {"ack_due": bindparam("ack_due")})
)


def save(session: Session, states: Iterable[State]) -> None:
    """Write the states back (one executemany) and mark each vessel as owed an ack."""
    rows = [
        {"b_vessel_id": s.vessel_id, "ack_due": True} | {c: getattr(s, c) for c in _STORED}
        for s in states
    ]
    if rows:
        session.connection().execute(_SAVE, rows)


def advance(
    session: Session,
    vessel_id: int,
    name: str,
    state: State,
    claims: list[ChainClaim],
    added: Mapping[int, bytes | None],
    *,
    complete: bool,
    declared: Iterable[tuple[int, int, int]] = (),
) -> None:
    """Move prefix, highest, missing ranges and the chain over what arrived.

    ``added`` is what this transaction stored for the vessel (seq → digest); ``complete`` says
    it is all that changed (no fragments moved). Then nothing is read back unless the prefix
    could move over messages stored earlier (the oldest gap was filled): the missing ranges are
    updated from the stored ones, so a vessel with a permanent gap costs the same per arrival
    as one without. Otherwise the messages and pending fragments above the prefix are read.
    ``declared`` are ranges this batch's heartbeats declared lost (element 6): they label gaps
    but never move the prefix or the chain — nothing arrived for them.
    """
    state.declared = declare(state.declared, declared)
    before = merge_ranges(json.loads(state.missing))
    digests = dict(sorted(added.items()))
    nothing_stored_above = state.highest == state.prefix
    if (
        complete
        and state.chain_seq == state.prefix
        and len(before) < MAX_GAP_RANGES  # the stored list is the whole truth
        and (nothing_stored_above or state.prefix + 1 not in digests)
    ):
        highest = state.highest
        while state.prefix + 1 in digests:
            state.prefix += 1
        state.highest = max([highest, *digests])
        ranges = update_gaps(before, highest, digests)
    else:
        above = session.exec(
            select(Message.seq, Message.digest)
            .where(
                Message.vessel_id == vessel_id,
                col(Message.seq) > min(state.prefix, state.chain_seq),
            )
            .order_by(col(Message.seq))
        ).all()
        digests = dict(above)
        pending = set(
            session.exec(select(FragmentPart.seq).where(FragmentPart.vessel_id == vessel_id)).all()
        )
        while state.prefix + 1 in digests:
            state.prefix += 1
        state.highest = max([state.highest, *digests, *pending])
        ranges = gap_ranges(state.prefix, set(digests) | pending)
    _gaps(session, vessel_id, name, state, ranges)
    _chain(session, vessel_id, name, state, digests, claims)
    if state.declared != "[]":
        state.declared = declare(state.declared, (), below=state.prefix)


def merge_ranges(ranges: Iterable[list[int]]) -> list[list[int]]:
    """Stored missing ranges without their labels: touching pieces joined again (two real
    gaps never touch — a seq that arrived lies between them)."""
    out: list[list[int]] = []
    for r in ranges:
        if out and r[0] == out[-1][1] + 1:
            out[-1][1] = r[1]
        else:
            out.append([r[0], r[1]])
    return out


def update_gaps(
    ranges: list[list[int]], highest: int, added: Iterable[int], limit: int = MAX_GAP_RANGES
) -> list[list[int]]:
    """:func:`gap_ranges` after ``added`` arrived, from the complete ranges before and the
    highest seq before — without knowing the seqs in between."""
    points = sorted(added)
    out: list[list[int]] = []
    for first, last in ranges:
        start = first
        for s in points[bisect.bisect_left(points, first) : bisect.bisect_right(points, last)]:
            if s > start:
                out.append([start, s - 1])
            start = s + 1
        if start <= last:
            out.append([start, last])
    top = highest
    for s in points:
        if s > top + 1:
            out.append([top + 1, s - 1])
        top = max(top, s)
    return out[:limit]


def gap_ranges(prefix: int, have: Iterable[int], limit: int = MAX_GAP_RANGES) -> list[list[int]]:
    """The missing ranges [first, last] above ``prefix`` below the highest seq in ``have``."""
    ranges: list[list[int]] = []
    seq = prefix + 1
    for s in sorted(s for s in have if s > prefix):
        if s > seq:
            ranges.append([seq, s - 1])
            if len(ranges) >= limit:
                break
        seq = s + 1
    return ranges


def _ranges(raw: str) -> list[tuple[int, int, int]]:
    return [(int(a), int(b), int(r)) for a, b, r in json.loads(raw)]


def declare(current: str, new: Iterable[tuple[int, int, int]], *, below: int = 0) -> str:
    """``current`` (JSON) with the ``new`` declared ranges added — seqs declared already keep
    their first reason — without ranges wholly at or below ``below`` (the prefix: those seqs
    arrived after all), at most :data:`MAX_DECLARED_RANGES`, the lowest kept."""
    new = list(new)
    if not new and not below:
        return current
    held = _ranges(current)
    for first, last, reason in new:
        held.extend((lo, hi, reason) for lo, hi in minus(first, last, held))
    out: list[tuple[int, int, int]] = []
    for a, b, r in sorted(held):
        if b <= below:
            continue
        if out and out[-1][2] == r and a == out[-1][1] + 1:
            out[-1] = (out[-1][0], b, r)
        else:
            out.append((a, b, r))
    return json.dumps([list(r) for r in out[:MAX_DECLARED_RANGES]])


def label_ranges(ranges: list[list[int]], declared: str) -> list[list[int]]:
    """Missing ranges split where the vessel declared seqs lost: ``[first, last]`` where
    nothing is declared, ``[first, last, reason]`` inside a declared range."""
    if declared == "[]":
        return ranges
    claims = _ranges(declared)
    out: list[list[int]] = []
    for first, last in ranges:
        seq = first
        for a, b, r in claims:
            if b < seq or a > last:
                continue
            if a > seq:
                out.append([seq, a - 1])
            out.append([max(a, seq), min(b, last), r])
            seq = min(b, last) + 1
        if seq <= last:
            out.append([seq, last])
    return out


def _label(r: list[int]) -> int:
    return r[2] if len(r) > 2 else 0


def _gaps(
    session: Session, vessel_id: int, name: str, state: State, ranges: list[list[int]]
) -> None:
    before = json.loads(state.missing)
    if not ranges and not before:
        return  # the common case: nothing was missing, nothing is
    ranges = label_ranges(ranges, state.declared)
    state.missing = json.dumps(ranges)
    new = [
        r
        for r in ranges
        if not any(b[0] <= r[0] and r[1] <= b[1] and _label(b) == _label(r) for b in before)
    ]
    # Seqs alerted as missing that the vessel now declares lost: the earlier alert said less
    # than the new one will, so it is closed and the new one lists every range.
    relabelled = any(
        _label(r) and not _label(b) and b[0] <= r[1] and r[0] <= b[1]
        for r in ranges
        for b in before
    )
    if not ranges or relabelled:
        session.execute(
            orm_update(Alert)
            .where(
                col(Alert.vessel_id) == vessel_id,
                col(Alert.kind) == "gap",
                col(Alert.resolved_at).is_(None),
            )
            .values(resolved_at=utcnow())
        )
    if ranges and new:
        session.add(Alert(vessel_id=vessel_id, kind="gap", detail=gap_text(name, state, ranges)))


def _seqs(ranges: Iterable[list[int]]) -> str:
    return ", ".join(f"{r[0]}" if r[0] == r[1] else f"{r[0]}–{r[1]}" for r in ranges)


def gap_text(name: str, state: State, ranges: list[list[int]]) -> str:
    """The alert staff read: plain gaps as "missing"; gaps inside ranges the vessel declared
    with its reason — as the device's claim, which nothing ashore can check (a doctored agent
    could call a suppressed grievance "evicted")."""
    since = state.last_contact.isoformat() if state.last_contact else "?"
    tail = f"highest received {state.highest}, last contact {since}"
    plain = [r for r in ranges if not _label(r)]
    reasons = sorted({_label(r) for r in ranges} - {0})
    if not reasons:
        return f"messages missing from vessel {name} (seq {_seqs(plain)}; {tail})"
    claims = "; ".join(
        f"seq {_seqs(r for r in ranges if _label(r) == reason)} "
        + DECLARED_LABELS.get(reason, f"declared not sent (reason {reason})")
        for reason in reasons
    )
    head = f"messages missing from vessel {name} (seq {_seqs(plain)}); " if plain else ""
    return (
        f"{head}vessel {name} says it never sent {claims} — the device's own claim, "
        f"not verifiable ashore ({tail})"
    )


def _chain(
    session: Session,
    vessel_id: int,
    name: str,
    state: State,
    digests: Mapping[int, bytes | None],
    claims: list[ChainClaim],
) -> None:
    values = {state.chain_seq: state.chain_value}
    value, seq = state.chain_value, state.chain_seq
    wanted = {c.last_seq for c in claims}
    while (digest := digests.get(seq + 1)) is not None:
        seq += 1
        value = chain.advance(value, seq, digest)
        if seq in wanted:
            values[seq] = value
    state.chain_seq, state.chain_value = seq, value
    for claim in sorted(claims, key=lambda c: c.last_seq):
        if claim.last_seq > seq:
            continue
        known = values.get(claim.last_seq)
        if known is None:
            known = recompute_chain(session, vessel_id, claim.last_seq)
        if known is not None and known != claim.chain:
            session.add(
                Alert(
                    vessel_id=vessel_id,
                    kind="chain",
                    detail=f"hash chain of vessel {name} disagrees at seq "
                    f"{claim.last_seq}: a message differs from what was sent",
                )
            )
        session.delete(claim)


def claims_for(session: Session, vessel_ids: Iterable[int]) -> dict[int, list[ChainClaim]]:
    """Heartbeat checkpoints still waiting for the chain, per vessel (one query)."""
    out: dict[int, list[ChainClaim]] = {}
    ids = list(vessel_ids)
    if ids:
        for claim in session.exec(
            select(ChainClaim).where(col(ChainClaim.vessel_id).in_(ids))
        ).all():
            out.setdefault(claim.vessel_id, []).append(claim)
    return out


def recompute_chain(session: Session, vessel_id: int, upto: int) -> bytes | None:
    """The chain value at ``upto`` from genesis (None if a message up to it is missing)."""
    rows = session.exec(
        select(Message.seq, Message.digest)
        .where(Message.vessel_id == vessel_id, col(Message.seq) <= upto)
        .order_by(col(Message.seq))
    ).all()
    value = chain.GENESIS
    for expected, (seq, digest) in enumerate(rows, start=1):
        if seq != expected or digest is None:
            return None
        value = chain.advance(value, seq, digest)
    return value if len(rows) == upto else None
