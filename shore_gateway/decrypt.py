"""Crew content: open sealed crew messages and apply what they say, in the caller's transaction.

A crew message is opened where the shore sealing keys are: in the pipeline's batch when this
host holds them (:mod:`shore_gateway.stages`), otherwise later by the decrypt worker on another
host (:func:`open_pending`; encrypt-then-sign lets the gateway verify, dedupe and ack without
the key). Either way :func:`apply` turns the opened content into its effect — a grievance
(enriched, then handed to the case desk), a withdrawal, a status request, a reply — and a body
that does not open raises an alert: the device signed it, so it is evidence of a fault or an
attack, and staff should see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlmodel import Session, col, select

from protocol import voice
from protocol.errors import RemoteProtocolError
from protocol.keys import key_id, verify_key_from_raw
from protocol.messages import CrewContent, CrewMessage, Reply, StatusRequest, VoiceNote, Withdraw
from protocol.messages import Grievance as GrievanceContent
from protocol.shore import open_crew
from shore_gateway.db import Database
from shore_gateway.enrichment import NewGrievance, store_grievances, store_grievances_loaded
from shore_gateway.hooks import CaseHooks
from shore_gateway.models import Alert, AlertKind, DeviceKey, Message, Vessel, utcnow


@dataclass(slots=True)
class Opened:
    """A stored crew message and what opening it gave (content, or why it did not open)."""

    vessel_id: int
    vessel_name: str
    message_id: int
    msg: CrewMessage
    content: CrewContent | RemoteProtocolError


def apply(session: Session, opened: Sequence[Opened], hooks: CaseHooks) -> list[int]:
    """The effects of opened crew messages, in order: grievances are stored and handed to the
    case desk together, up to the next withdrawal, status request or reply (which then sees
    them); a body that did not open is alerted. Returns the new grievances' ids."""
    ids: list[int] = []
    grievances: list[NewGrievance] = []
    for o in opened:
        content = o.content
        if isinstance(content, RemoteProtocolError):
            _seal_alert(session, o, content)
        elif isinstance(content, GrievanceContent | VoiceNote):
            _remember_reply_key(session, o.vessel_id, o.msg.seq, content)
            grievances.append(_new_grievance(o.vessel_id, o.message_id, o.msg, content))
        else:  # withdraw / status request / reply: after the grievances so far
            ids += hand_grievances(session, grievances, hooks)
            grievances = []
            vessel = session.get(Vessel, o.vessel_id)
            assert vessel is not None
            _act(session, vessel, o.message_id, content, hooks)
    ids += hand_grievances(session, grievances, hooks)
    return ids


def _act(
    session: Session,
    vessel: Vessel,
    message_id: int,
    content: Withdraw | StatusRequest | Reply,
    hooks: CaseHooks,
) -> None:
    if isinstance(content, Withdraw):
        if hooks.on_withdraw:
            hooks.on_withdraw(session, vessel, content.ref_seq)
    elif isinstance(content, StatusRequest):
        if hooks.on_status_request:
            hooks.on_status_request(session, vessel, content.ref_seq)
    else:
        conversation().take_reply(session, vessel, message_id, content)


def hand_grievances(
    session: Session, grievances: Sequence[NewGrievance], hooks: CaseHooks
) -> list[int]:
    """Store opened grievances (enriched) and hand them to the case desk, in order (all at
    once when the desk takes a batch)."""
    if not (hooks.on_grievances or hooks.on_grievance):
        return store_grievances(session, grievances)
    items = store_grievances_loaded(session, grievances)
    if items:
        if hooks.on_grievances:
            hooks.on_grievances(session, items)
        elif hooks.on_grievance:
            for grievance, vessel in items:
                hooks.on_grievance(session, grievance, vessel)
    ids = [g.id for g, _ in items]
    assert None not in ids  # stored
    return ids  # type: ignore[return-value]


def _new_grievance(
    vessel_id: int, message_id: int, msg: CrewMessage, content: GrievanceContent | VoiceNote
) -> NewGrievance:
    text, zawgyi = "", None
    frames, mode_code, duration_ms = None, None, None
    if isinstance(content, VoiceNote):  # stored as Codec2 frames; decoded only when heard
        mode = voice.MODES[content.mode]
        frames, mode_code = voice.pack(mode, content.frames), mode.code
        duration_ms = content.duration_ms
    else:
        text, zawgyi = content.text, content.zawgyi
    return NewGrievance(
        vessel_id=vessel_id,
        message_id=message_id,
        time=dt.datetime.fromtimestamp(msg.time, dt.UTC),
        category=content.category,
        lang=content.lang.tag,
        text=text,
        pseudonym=content.pseudonym,
        zawgyi=zawgyi.mode.name.lower() if zawgyi else None,
        zawgyi_p=zawgyi.probability if zawgyi else None,
        zawgyi_other=zawgyi.other if zawgyi else None,
        voice=frames,
        voice_mode=mode_code,
        voice_ms=duration_ms,
    )


def _seal_alert(session: Session, o: Opened, exc: Exception) -> None:
    session.add(
        Alert(
            vessel_id=o.vessel_id,
            kind=AlertKind.SEAL,
            detail=f"crew message seq {o.msg.seq} from {o.vessel_name} does not open "
            f"({type(exc).__name__})",
        )
    )


def conversation() -> Any:
    """:mod:`shore_gateway.cases.conversation` (the case desk's tables; imported late)."""
    from shore_gateway.cases import conversation as module

    return module


def _remember_reply_key(
    session: Session, vessel_id: int, seq: int, content: GrievanceContent | VoiceNote
) -> None:
    pub = getattr(content, "reply_pub", None)
    if pub is not None:
        conversation().remember_key(session, vessel_id, seq, pub)


def open_pending(
    db: Database,
    seal_keys: list[X25519PrivateKey],
    *,
    hooks: CaseHooks,
    limit: int = 500,
) -> int:
    """Decrypt-worker step: open crew messages stored sealed; returns how many were opened.

    A message that does not open is alerted once and marked tried (``opened_at`` set, no
    grievance, ``sealed`` kept), so it is not retried on every pass, re-alerting and starving
    the rest.
    """
    opened = 0
    with db.session() as session:
        rows = session.exec(
            select(Message, Vessel, DeviceKey)
            .join(Vessel, col(Vessel.id) == col(Message.vessel_id))
            .join(DeviceKey, col(DeviceKey.id) == col(Message.device_key_id))
            .where(
                Message.kind == "crew",
                col(Message.opened_at).is_(None),
                col(Message.sealed).is_not(None),
            )
            .limit(limit)
        ).all()
        for row, vessel, key in rows:
            assert row.sealed is not None
            assert row.sent_at is not None
            assert row.id is not None
            assert vessel.id is not None
            msg = CrewMessage(seq=row.seq, time=int(row.sent_at.timestamp()), sealed=row.sealed)
            kid = key_id(verify_key_from_raw(key.public_key))
            content: CrewContent | RemoteProtocolError
            try:
                content = open_crew(msg, kid, seal_keys)
                opened += 1
            except RemoteProtocolError as exc:
                content = exc
            row.opened_at = utcnow()  # opened, or tried: the sealed body stays
            session.add(row)
            apply(session, [Opened(vessel.id, vessel.name, row.id, msg, content)], hooks)
    return opened
