"""Seq collisions: a vessel's seq stored already with other content.

A message whose (vessel, seq) is taken is a duplicate when the stored chain digest is the same
(:func:`protocol.shorecore.classify`); otherwise it is a *collision* — e.g. a replacement box
that restarted its seqs under a rotated key. It cannot be stored (the seq is taken), and acks
would claim it (acks name seqs), so the box would delete what never arrived. Staff get one
alert per vessel, and :func:`shore_gateway.downlink.acks_for` holds the vessel's acks while it
is open (:func:`held`): the box keeps everything until someone registers it properly
(docs/operations.md). Revoking the vessel's key closes the alert
(:func:`shore_gateway.registry.revoke_key`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from protocol import shorecore
from protocol.shorecore import Stored
from shore_gateway.bulk import one_of
from shore_gateway.models import Alert, AlertKind, Message

log = logging.getLogger("flip.gateway.pipeline")

_MESSAGES: Any = Message.__table__  # type: ignore[attr-defined]
_STORED = core_select(_MESSAGES.c.vessel_id, _MESSAGES.c.seq, _MESSAGES.c.digest).where(
    one_of(_MESSAGES.c.vessel_id, "vessel_ids"),
    one_of(_MESSAGES.c.seq, "seqs"),
)  # built once: building it per batch cost more than running it


@dataclass(slots=True)
class Clash:
    """A vessel's collisions in one batch: the seqs, and the key that signed the first."""

    name: str
    kid: bytes
    seqs: list[int] = field(default_factory=list)


def collided(session: Session, conflicts: Sequence[tuple[tuple[int, int], bytes]]) -> list[int]:
    """Which of ``conflicts`` — ((vessel id, seq), chain digest) of messages whose seq was
    taken when they were inserted — are collisions rather than duplicates: their indices (one
    SELECT for all)."""
    if not conflicts:
        return []
    stored = {
        (vid, seq): digest
        for vid, seq, digest in session.connection().execute(
            _STORED,
            {
                "vessel_ids": sorted({key[0] for key, _ in conflicts}),
                "seqs": sorted({key[1] for key, _ in conflicts}),
            },
        )
    }
    return [
        i
        for i, (key, digest) in enumerate(conflicts)
        if shorecore.classify(stored.get(key), digest, taken=key in stored) is Stored.COLLISION
    ]


def open_for(session: Session, vessel_ids: Iterable[int]) -> set[int]:
    """The vessels among ``vessel_ids`` with a collision alert open (their acks are held)."""
    rows = session.exec(
        select(Alert.vessel_id).where(
            col(Alert.vessel_id).in_(list(vessel_ids)),
            Alert.kind == AlertKind.COLLISION,
            col(Alert.resolved_at).is_(None),
        )
    ).all()
    return {vid for vid in rows if vid is not None}


def held(session: Session, vessel_id: int) -> bool:
    """True while a collision alert is open for the vessel: no ack may be sent to it."""
    return bool(open_for(session, [vessel_id]))


def alert(session: Session, clashes: dict[int, Clash]) -> None:
    """Raise one collision alert per vessel (vessel id → its clash), unless one is open."""
    if not clashes:
        return
    already = open_for(session, clashes)
    for vid, clash in clashes.items():
        log.warning("seq collision", extra={"vessel_id": vid, "seqs": len(clash.seqs)})
        if vid in already:
            continue
        seqs = ", ".join(map(str, clash.seqs[:8])) + (", …" if len(clash.seqs) > 8 else "")
        session.add(
            Alert(
                vessel_id=vid,
                kind=AlertKind.COLLISION,
                detail=f"vessel {clash.name} sent seq {seqs} with content other than the "
                f"messages already stored under those seqs (signed by key {clash.kid.hex()}). "
                "They are not duplicates and cannot be stored; acks to this vessel are held "
                "while this alert is open, so the box deletes nothing. A replacement box that "
                "restarted its seqs must be registered as a new vessel, and this key revoked "
                "here (docs/operations.md).",
            )
        )
