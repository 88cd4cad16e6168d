"""Voice notes ashore: opened like text, stored as Codec2 frames, heard as WAV (staff only,
each listening audited), refused with typed errors when a peer sends a bad body."""

from __future__ import annotations

import asyncio
import io
import re
import wave

import numpy as np
import pytest
from sqlmodel import col, select

from protocol import cbor, voice
from protocol.lang import Lang
from protocol.messages import CrewMessage, VoiceNote
from protocol.seal import crew_info, seal
from protocol.vessel import Priority
from shore_gateway.cases import desk
from shore_gateway.cases.config import CaseSettings
from shore_gateway.cases.models import AuditEntry
from shore_gateway.db import Database
from shore_gateway.models import Alert, Grievance, Message, Vessel
from shore_gateway.pipeline_api import ArrivalMeta, Outcome
from tests.shore_gateway.conftest import Gateway
from tests.shore_gateway.test_pipeline import T0, Fleet
from tests.vessel_agent.audio import dominant_hz, envelope_correlation, speechlike, tone, wav
from vessel_agent.voice import Encoded, encode


@pytest.fixture(scope="module")
def spoken() -> Encoded:
    return encode(wav(speechlike(10.0, 16000), 16000))


def test_a_voice_note_is_opened_and_stored_as_its_frames(db: Database, spoken: Encoded) -> None:
    fleet = Fleet(db)
    note = spoken.note(category=0x17, lang=Lang.MY, pseudonym="K7")
    items = fleet.session.queue_crew(note, T0)
    assert len(items) == 4  # 10 s of 700C
    sizes = []
    for i, data in enumerate(fleet.frames(n=16)):  # through accept(), as the ingest channels do
        sizes.append(len(data))
        meta = ArrivalMeta(channel="directip", imei="300234010000001", momsn=i + 1)
        assert asyncio.run(fleet.pipeline.accept(data, meta)).outcome is Outcome.STORED
    assert fleet.calls == ["grievance 0x17"]
    with db.session() as s:
        g = s.exec(select(Grievance)).one()
        assert (g.text, g.voice_mode, g.voice_ms, g.pseudonym) == ("", 8, 10_000, "K7")
        # the frames as on the wire: 875 bytes, not 160,000 bytes of decoded audio
        assert g.voice == voice.pack(voice.MODE_700C, note.frames)
    text = fleet.pipeline.metrics.render().decode()
    (total,) = re.findall(r'flip_frame_bytes_total\{channel="directip"\} (\S+)', text)
    assert float(total) == sum(sizes)


def _sealed_body(fleet: Fleet, plaintext: bytes) -> list[bytes]:
    """A crew message the vessel really signed and sealed, whose plaintext is ``plaintext``."""
    s = fleet.session
    seq = s._assign(1)
    sealed = seal(plaintext, s.shore_seal_pub, crew_info(s.kid, seq, T0))
    s._enqueue(CrewMessage(seq=seq, time=T0, sealed=sealed), Priority.CREW, T0)
    return fleet.frames(n=32)


BAD = {
    "truncated frames": [5, 0x17, 2, 1, 8, 2000, bytes(170)],
    "oversized frames": [5, 0x17, 2, 1, 8, 2000, bytes(7001)],
    "longer than 60 s": [5, 0x17, 2, 1, 8, 61_000, bytes(voice.MODE_700C.packed_size(1525))],
    "padding bits set": [5, 0x17, 2, 1, 8, 40, b"\0\0\0\x01"],
    "unknown mode": [5, 0x17, 2, 1, 6, 40, bytes(4)],
    "no frames element": [5, 0x17, 2, 1, 8, 40],
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_voice_body_from_a_peer_stores_nothing_and_alerts(
    sqlite_db: Database, name: str
) -> None:
    fleet = Fleet(sqlite_db)
    for data in _sealed_body(fleet, cbor.dumps(BAD[name])):
        fleet.send(data)
    with sqlite_db.session() as s:
        assert s.exec(select(Grievance)).all() == []
        (alert,) = s.exec(select(Alert)).all()
        assert alert.kind == "seal" and ("Malformed" in alert.detail or "Oversize" in alert.detail)
    assert fleet.calls == []


def _add_voice(db: Database, note: VoiceNote, seq: int = 31) -> int:
    """A stored voice grievance as the pipeline leaves it, with its case."""
    mode = voice.MODES[note.mode]
    with db.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        m = Message(vessel_id=v.id or 0, seq=seq, kind="grievance")
        s.add(m)
        s.flush()
        g = Grievance(
            message_id=m.id or 0,
            category=note.category,
            lang=note.lang.tag,
            text="",
            voice=voice.pack(mode, note.frames),
            voice_mode=mode.code,
            voice_ms=note.duration_ms,
            time=m.received_at,
        )
        s.add(g)
        s.flush()
        desk.on_grievance(s, g, v, settings=CaseSettings())
        return g.id or 0


def _listens(db: Database, gid: int) -> list[str]:
    with db.session() as s:
        rows = s.exec(
            select(AuditEntry)
            .where(AuditEntry.grievance_id == gid, AuditEntry.action == "view_text")
            .order_by(col(AuditEntry.id))
        ).all()
        return [r.detail for r in rows]


def test_staff_hear_the_note_each_listening_audited_owners_get_nothing(
    gateway: Gateway,
) -> None:
    source = tone(1000, 12.0, 48000) * 0.4
    note = encode(wav(source, 48000)).note(category=0x31, lang=Lang.KM)
    gid = _add_voice(gateway.db, note)
    c = gateway.client
    (item,) = c.get("/api/grievances", headers=gateway.auth()).json()
    assert (item["kind"], item["duration_s"]) == ("voice", 12.0)
    assert c.get(f"/api/grievances/{gid}", headers=gateway.auth()).json()["kind"] == "voice"
    assert _listens(gateway.db, gid) == []  # nothing heard yet: nothing logged
    r = c.get(f"/api/grievances/{gid}/audio", headers=gateway.auth())
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.headers["cache-control"] == "no-store"
    with wave.open(io.BytesIO(r.content)) as w:
        assert (w.getframerate(), w.getnframes()) == (8000, 96_000)
        pcm = np.frombuffer(w.readframes(96_000), dtype="<i2")
    assert abs(dominant_hz(pcm[8000:-8000], 8000) - 1000) < 20
    assert _listens(gateway.db, gid) == ['{"via": "api-audio"}']
    # the rest of a file already playing is not a new listening; a replay from the start is
    c.get(f"/api/grievances/{gid}/audio", headers={**gateway.auth(), "Range": "bytes=4000-"})
    c.get(f"/api/grievances/{gid}/audio", headers={**gateway.auth(), "Range": "bytes=0-"})
    assert len(_listens(gateway.db, gid)) == 2
    for token in (gateway.owner_token, gateway.buyer_token):
        r = c.get(f"/api/grievances/{gid}/audio", headers=gateway.auth(token))
        assert r.status_code == 403 and b"RIFF" not in r.content
    assert c.get(f"/api/grievances/{gid}/audio").status_code == 401
    assert c.get("/api/grievances/999/audio", headers=gateway.auth()).status_code == 404
    assert len(_listens(gateway.db, gid)) == 2


def test_a_written_grievance_has_no_audio(gateway: Gateway) -> None:
    from tests.shore_gateway.cases.helpers import add_grievance

    gid, _ = add_grievance(gateway.db, "Sea One", 5)
    r = gateway.client.get(f"/api/grievances/{gid}/audio", headers=gateway.auth())
    assert r.status_code == 404 and "written" in r.json()["detail"]
    (item,) = gateway.client.get("/api/grievances", headers=gateway.auth()).json()
    assert item["kind"] == "text" and "duration_s" not in item


def test_speech_keeps_its_energy_envelope(gateway: Gateway, spoken: Encoded) -> None:
    gid = _add_voice(gateway.db, spoken.note(category=0x17, lang=Lang.MY))
    r = gateway.client.get(f"/api/grievances/{gid}/audio", headers=gateway.auth())
    with wave.open(io.BytesIO(r.content)) as w:
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert len(heard) == 80_000
    assert envelope_correlation(speechlike(10.0, 16000), 16000, heard, 8000) > 0.8
