"""Case conversations ashore: staff ask (free text or a template), the question is sealed to the
grievance's reply key into MT-sized downlinks, delivery states follow, answers join, every view
of crew words is audited, owners see nothing."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import col, select

from protocol import conversation as wire
from protocol import frame, keys
from protocol.lang import Lang
from protocol.messages import Reply, ShoreMessage, decode_message
from shore_gateway.cases import conversation
from shore_gateway.cases.models import AuditEntry
from shore_gateway.models import DeviceKey, Downlink, Message, Vessel
from tests.shore_gateway.cases.helpers import add_grievance
from tests.shore_gateway.conftest import Gateway

CREW_KEY = X25519PrivateKey.from_private_bytes(bytes(range(32)))
CREW_PUB = keys.raw_public(CREW_KEY.public_key())
ANSWER = "တနင်္လာနေ့ပါ။ ZX-ANSWER-77"


def _vessel(gw: Gateway, name: str = "Sea One") -> tuple[int, bytes]:
    with gw.db.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == name)).one()
        key = s.exec(select(DeviceKey).where(DeviceKey.vessel_id == v.id)).one()
        return v.id or 0, key.kid


@pytest.fixture
def case_ref(gateway: Gateway) -> str:
    vid, _ = _vessel(gateway)
    _, ref = add_grievance(gateway.db, "Sea One", 11)
    with gateway.db.session() as s:
        conversation.remember_key(s, vid, 11, CREW_PUB)
        conversation.remember_key(s, vid, 11, bytes(32))  # a repeat keeps the first
    return ref


def _opened_downlinks(gw: Gateway, msg_id: int) -> tuple[int, str, Lang]:
    """What the vessel would get: the queued parts, joined and opened with the crew key."""
    _, kid = _vessel(gw)
    with gw.db.session() as s:
        rows = s.exec(select(Downlink).where(Downlink.kind == "shore_message")).all()
        parts = [decode_message(r.body) for r in rows]
    mine = [p for p in parts if isinstance(p, ShoreMessage) and p.msg_id == msg_id]
    for p in mine:  # each part fits one MT frame with any header
        assert frame.frame_size(frame.downlink_payload_size(2**32 - 1, [len(p.chunk) + 16])) <= 270
    whole = wire.join(mine)  # type: ignore[arg-type]
    assert whole is not None
    text = wire.open_text(whole.sealed, CREW_KEY, to_kid=kid, ref_seq=11, msg_id=msg_id)
    return len(mine), text.text, text.lang


def test_staff_ask_with_a_template_in_the_crew_members_language(
    gateway: Gateway, case_ref: str
) -> None:
    r = gateway.client.post(
        f"/api/cases/{case_ref}/messages", headers=gateway.auth(), json={"template": "safe_now"}
    )
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["state"], m["lang"], m["from"], m["ref_seq"]) == ("queued", "my", "staff", 11)
    expected = conversation.questions()["questions"]["safe_now"]["text"]["my"]
    assert m["text"] == expected
    parts, text, lang = _opened_downlinks(gateway, m["id"])
    assert (parts, text, lang) == (m["parts"], expected, Lang.MY)
    with gateway.db.session() as s:
        (entry,) = s.exec(select(AuditEntry).where(AuditEntry.action == "message_sent")).all()
        assert expected not in entry.detail and json.loads(entry.detail)["template"] == "safe_now"


def test_delivery_states_answer_and_audited_views(gateway: Gateway, case_ref: str) -> None:
    long_q = (
        "Which day did the captain take your passport, and who else saw it happen? Is anyone "
        "hurt or sick on board now, and do you get enough food and water each day? When the "
        "vessel next comes into port, can you reach a phone or meet our field officer near the "
        "fish market gate? Tell us only what is safe for you to tell; reply with your receipt."
    )
    r = gateway.client.post(
        f"/api/cases/{case_ref}/messages",
        headers=gateway.auth(),
        json={"text": long_q, "lang": "en"},
    )
    m = r.json()
    assert m["parts"] >= 2 and _opened_downlinks(gateway, m["id"])[1] == long_q
    vid, _ = _vessel(gateway)

    def state() -> str:
        body = gateway.client.get(f"/api/cases/{case_ref}/messages", headers=gateway.auth())
        return str(body.json()["messages"][0]["state"])

    assert state() == "queued"
    with gateway.db.session() as s:  # the downlink sender's confirmation of every part
        s.execute(update(Downlink).values(confirmed_at=conversation.utcnow()))
    assert state() == "sent"
    with gateway.db.session() as s:
        other, _ = _vessel(gateway, "Other Boat")
        conversation.delivered(s, other, (m["id"],))  # another vessel's claim changes nothing
    assert state() == "sent"
    with gateway.db.session() as s:
        conversation.delivered(s, vid, (m["id"],))
    assert state() == "on_board"
    # no crew words yet: the views so far were not audited as views of crew words
    with gateway.db.session() as s:
        assert not s.exec(select(AuditEntry).where(AuditEntry.action == "view_conversation")).all()
        v = s.get(Vessel, vid)
        row = Message(vessel_id=vid, seq=40, kind="crew")
        s.add(row)
        s.flush()
        assert v is not None and row.id is not None
        assert conversation.take_reply(s, v, row.id, Reply(ref_seq=11, lang=Lang.MY, text=ANSWER))
        assert not conversation.take_reply(s, v, row.id, Reply(ref_seq=99, lang=Lang.MY, text="x"))
    body = gateway.client.get(f"/api/cases/{case_ref}/messages", headers=gateway.auth()).json()
    assert [(x["from"], x["state"]) for x in body["messages"]] == [
        ("staff", "read"),
        ("crew", "received"),
    ]
    assert body["messages"][1]["text"] == ANSWER and body["can_write"] == [11]
    with gateway.db.session() as s:
        views = s.exec(select(AuditEntry).where(AuditEntry.action == "view_conversation")).all()
        assert len(views) == 1 and ANSWER not in views[0].detail


def test_owners_see_nothing_of_the_conversation(gateway: Gateway, case_ref: str) -> None:
    gateway.client.post(
        f"/api/cases/{case_ref}/messages", headers=gateway.auth(), json={"template": "which_day"}
    )
    owner = gateway.auth(gateway.owner_token)
    assert gateway.client.get(f"/api/cases/{case_ref}/messages", headers=owner).status_code == 403
    r = gateway.client.post(
        f"/api/cases/{case_ref}/messages", headers=owner, json={"text": "who complained?"}
    )
    assert r.status_code == 403
    for url in (f"/api/cases/{case_ref}", "/api/cases", f"/portal/cases/{case_ref}", "/portal"):
        body = gateway.client.get(url, headers=owner).text
        assert "ဘယ်နေ့" not in body and "which_day" not in body and "messages" not in body


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"text": "   "}, 400),
        ({"template": "nope"}, 400),
        ({"text": "hi", "lang": "xx"}, 400),
        ({"text": "x" * 601}, 422),
        ({"text": "hi", "seq": 12}, 409),  # not a grievance of this case
        ({"text": "hi", "seq": 0}, 422),
    ],
)
def test_bad_questions_are_refused_clearly(
    gateway: Gateway, case_ref: str, body: dict, status: int
) -> None:
    r = gateway.client.post(f"/api/cases/{case_ref}/messages", headers=gateway.auth(), json=body)
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    with gateway.db.session() as s:
        assert not s.exec(select(Downlink).where(col(Downlink.kind) == "shore_message")).all()


def test_a_grievance_without_a_reply_key_cannot_be_written_to(gateway: Gateway) -> None:
    _, ref = add_grievance(gateway.db, "Sea One", 21, category=0x31)
    r = gateway.client.post(
        f"/api/cases/{ref}/messages", headers=gateway.auth(), json={"text": "?"}
    )
    assert r.status_code == 409 and "reply key" in r.json()["detail"]
    assert (
        gateway.client.post(
            "/api/cases/C-999999/messages", headers=gateway.auth(), json={"text": "?"}
        ).status_code
        == 404
    )


def test_question_templates_exist_in_every_language() -> None:
    q = conversation.questions()
    assert {"which_day", "safe_now", "phone_in_port"} <= set(q["questions"])
    for entry in q["questions"].values():
        assert set(entry["text"]) == {"en", "my", "th", "km", "id", "vi", "tl"}
    assert set(q["needs_review"]) == {"my", "th", "km", "id", "vi", "tl"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "text": json_values | st.text(max_size=700),
            "lang": json_values | st.sampled_from(["en", "my", "km", "und", "xx", ""]),
            "template": json_values | st.sampled_from(["which_day", "safe_now", "nope", ""]),
            "seq": json_values | st.integers(-5, 2**33),
        },
    )
)
def test_any_question_body_gets_a_clear_answer_never_a_server_error(
    gateway: Gateway, case_ref: str, body: dict
) -> None:
    # Python's encoder, not the client's strict one: a sender may well write Infinity or 1e999.
    r = gateway.client.post(
        f"/api/cases/{case_ref}/messages",
        headers={**gateway.auth(), "content-type": "application/json"},
        content=json.dumps(body),
    )
    assert r.status_code in (201, 400, 409, 422), (r.status_code, r.text)
    if r.status_code != 201:
        assert r.json()["detail"]


def test_a_question_the_vessel_never_reports_is_sent_again(gateway: Gateway, case_ref: str) -> None:
    import datetime as dt

    r = gateway.client.post(
        f"/api/cases/{case_ref}/messages", headers=gateway.auth(), json={"template": "which_day"}
    )
    mid = r.json()["id"]
    vid, _ = _vessel(gateway)
    later = conversation.utcnow() + dt.timedelta(hours=13)
    with gateway.db.session() as s:
        assert conversation.resend_stale(s, later) == []  # not handed to the provider yet
        s.execute(update(Downlink).values(confirmed_at=conversation.utcnow()))
    with gateway.db.session() as s:
        assert conversation.resend_stale(s) == []  # just sent: give the vessel time
        assert conversation.resend_stale(s, later) == [mid]
    with gateway.db.session() as s:
        rows = s.exec(select(Downlink).where(Downlink.kind == "shore_message")).all()
        assert rows and all(d.confirmed_at is None for d in rows)  # queued again
        s.execute(update(Downlink).values(confirmed_at=conversation.utcnow()))
        conversation.delivered(s, vid, (mid,))
    with gateway.db.session() as s:
        assert conversation.resend_stale(s, later + dt.timedelta(hours=13)) == []  # on board
