"""Create grievances the way the pipeline will: Message + Grievance rows, then the desk hook."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from shore_gateway.cases import desk
from shore_gateway.cases.config import CaseSettings
from shore_gateway.cases.models import Case
from shore_gateway.db import Database
from shore_gateway.models import Grievance, Message, Vessel

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
SECRET_TEXT = "ကျွန်ုပ်၏ လုပ်ခ မရပါ — captain keeps passports ZX-SECRET-41"
PSEUDONYM = "crew-moon-7"


def add_grievance(
    db: Database,
    vessel: str,
    seq: int,
    *,
    category: int = 0x17,
    text: str = SECRET_TEXT,
    lang: str = "my",
    settings: CaseSettings | None = None,
    when: dt.datetime = T0,
    lat: float | None = -4.61,
    lon: float | None = 55.45,
    voice_ms: int | None = None,
) -> tuple[int, str]:
    """Insert a message and its grievance and call ``desk.on_grievance`` in one transaction;
    returns (grievance id, case ref)."""
    with db.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == vessel)).one()
        m = Message(vessel_id=v.id or 0, seq=seq, kind="grievance", sent_at=when)
        s.add(m)
        s.flush()
        g = Grievance(
            message_id=m.id or 0,
            category=category,
            lang=lang,
            text=text,
            pseudonym=PSEUDONYM,
            time=when,
            pos_lat=lat,
            pos_lon=lon,
            pos_time=when,
            pos_age_s=60.0,
            pos_uncertainty_m=800.0,
            pos_source="naf",
        )
        if voice_ms is not None:  # a 700C voice note of that length instead of words
            g.text, g.voice, g.voice_mode, g.voice_ms = "", bytes(voice_ms // 40 * 4), 8, voice_ms
        s.add(g)
        s.flush()
        case = desk.on_grievance(s, g, v, settings=settings or CaseSettings(), now=when)
        return g.id or 0, case.ref


def case(db: Database, ref: str) -> Case:
    with db.session() as s:
        return s.exec(select(Case).where(Case.ref == ref)).one()
