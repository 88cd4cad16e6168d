"""Crew words pass the gateway unaltered: any text, any language, sealed on board, fragmented if
long, verified, opened and stored — the stored text is the typed text (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from protocol.errors import LocalProtocolError
from protocol.lang import Lang
from protocol.messages import Grievance as GrievanceContent
from shore_gateway.db import Database
from shore_gateway.models import Grievance, Message
from shore_gateway.pipeline_api import Outcome
from tests.protocol.strategies import any_text
from tests.shore_gateway.test_pipeline import T0, Fleet

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _stored_text(fleet: Fleet, seqs: list[int]) -> str:
    """The text of the one grievance stored from the message(s) with these seqs."""
    with fleet.db.session() as s:
        query = (
            select(Grievance)
            .join(Message, col(Grievance.message_id) == col(Message.id))
            .where(Message.vessel_id == fleet.vessel_id, col(Message.seq).in_(seqs))
        )
        return s.exec(query).one().text


def _send_and_read(fleet: Fleet, text: str, lang: Lang) -> str | None:
    if "\x00" in text:  # refused on board, typed, and no seq spent (no gap ashore)
        before = fleet.session.next_seq
        with pytest.raises(LocalProtocolError, match="U\\+0000"):
            fleet.session.queue_crew(GrievanceContent(category=0x17, lang=lang, text=text), T0)
        assert fleet.session.next_seq == before
        return None
    items = fleet.session.queue_crew(GrievanceContent(category=0x17, lang=lang, text=text), T0)
    frames = fleet.frames(n=len(items) + 1)
    for data in frames:
        assert fleet.send(data) is Outcome.STORED
    return _stored_text(fleet, [item.seq for item in items])


def test_any_text_through_the_gateway(db: Database) -> None:
    fleet = Fleet(db)

    @EXAMPLES
    @given(text=any_text(), lang=st.sampled_from(list(Lang)))
    def check(text: str, lang: Lang) -> None:
        assert _send_and_read(fleet, text, lang) == (None if "\x00" in text else text)

    check()


@pytest.mark.soak
def test_any_text_through_the_gateway_soak(db: Database) -> None:
    fleet = Fleet(db)

    @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=any_text(), lang=st.sampled_from(list(Lang)))
    def check(text: str, lang: Lang) -> None:
        assert _send_and_read(fleet, text, lang) == (None if "\x00" in text else text)

    check()
