"""Durable reassembly: a vessel's SBD fragments held in ``fragment_parts`` until their set is
whole, in the batch's transaction.

When a set is complete (:func:`protocol.shorecore.join`) its parts leave the table, every seq
but the first is stored as a ``fragment`` message (so prefix, chain and acks see each seq), and
the whole message goes back to the batch to be stored under the first seq like any other. Partial
sets are bounded per vessel (:func:`protocol.shorecore.fragment_sets_to_drop`) and dropped
after :data:`FRAGMENT_TIMEOUT`: nothing of them was acknowledged, so an honest vessel sends them
again. :class:`protocol.shore.ShoreSession` keeps the same parts in memory.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlmodel import Session, col, delete, func, select

from protocol import shorecore
from protocol.messages import CrewMessage, Fragment, Heartbeat, UnknownMessage
from protocol.messages import Position as PositionMessage
from shore_gateway.db import insert_ignore
from shore_gateway.models import FragmentPart, Message

#: How long a partial set is held (dropped at the vessel's next fragment): the core's bound.
FRAGMENT_TIMEOUT = dt.timedelta(seconds=shorecore.FRAGMENT_TIMEOUT)


class Held(enum.Enum):
    """A fragment that did not complete its set."""

    DUPLICATE = "duplicate"  # its seq is stored, or held already
    PARTIAL = "partial"  # held until the rest of its set arrives


@dataclass(frozen=True, slots=True)
class Whole:
    """The message a fragment completed, with its first fragment's chain digest."""

    message: CrewMessage | Heartbeat | PositionMessage | UnknownMessage
    digest: bytes


def take(
    session: Session,
    vessel_id: int,
    key_id: int,
    frag: Fragment,
    digest: bytes,
    received_at: dt.datetime,
) -> Whole | Held:
    """Keep a fragment (seq ``frag.seq``, chain digest ``digest``) durably; when its set is
    complete, store the other seqs and return the whole message for the caller to store.

    Raises:
        Malformed: the set's parts disagree, or do not join into a message carrying the first
            seq (:func:`protocol.shorecore.join`); the caller's transaction rolls back.
    """
    seq = frag.seq
    done = session.exec(
        select(Message.id).where(Message.vessel_id == vessel_id, Message.seq == seq)
    ).first()
    if done is not None:
        return Held.DUPLICATE
    part = {
        "vessel_id": vessel_id,
        "seq": seq,
        "first_seq": frag.first_seq,
        "idx": frag.index,
        "count": frag.count,
        "chunk": frag.chunk,
        "digest": digest,
        "received_at": received_at,
    }
    if not insert_ignore(session, FragmentPart, [part], ("vessel_id", "seq")):
        return Held.DUPLICATE
    bound(session, vessel_id, frag.first_seq, received_at)
    parts = session.exec(
        select(FragmentPart)
        .where(FragmentPart.vessel_id == vessel_id, FragmentPart.first_seq == frag.first_seq)
        .order_by(col(FragmentPart.idx))
    ).all()
    joined = shorecore.join(frag.first_seq, frag.count, [(p.idx, p.count, p.chunk) for p in parts])
    if joined is None:
        return Held.PARTIAL
    session.exec(
        delete(FragmentPart).where(
            col(FragmentPart.vessel_id) == vessel_id, col(FragmentPart.first_seq) == frag.first_seq
        )
    )
    rest = [
        {
            "vessel_id": vessel_id,
            "device_key_id": key_id,
            "seq": p.seq,
            "kind": "fragment",
            "received_at": received_at,
            "digest": p.digest,
        }
        for p in parts[1:]
    ]
    insert_ignore(session, Message, rest, ("vessel_id", "seq"))
    whole = joined[0]
    assert isinstance(whole, (CrewMessage, Heartbeat, PositionMessage, UnknownMessage))
    return Whole(whole, parts[0].digest)


def bound(session: Session, vessel_id: int, keep: int, now: dt.datetime) -> None:
    """Hold at most the core's bound of partial sets and rows for a vessel
    (:func:`protocol.shorecore.fragment_sets_to_drop`), none older than FRAGMENT_TIMEOUT; the
    set being filled (``keep``) goes last."""
    session.exec(
        delete(FragmentPart).where(
            col(FragmentPart.vessel_id) == vessel_id,
            col(FragmentPart.received_at) < now - FRAGMENT_TIMEOUT,
        )
    )
    sets = session.exec(
        select(FragmentPart.first_seq, func.count(), func.min(FragmentPart.id))
        .where(FragmentPart.vessel_id == vessel_id)
        .group_by(col(FragmentPart.first_seq))
        .order_by(func.min(FragmentPart.id))
    ).all()
    drop = shorecore.fragment_sets_to_drop([(first, n) for first, n, _ in sets], keep)
    if drop:
        session.exec(
            delete(FragmentPart).where(
                col(FragmentPart.vessel_id) == vessel_id, col(FragmentPart.first_seq).in_(drop)
            )
        )
