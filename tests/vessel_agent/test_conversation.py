"""Two-way messages on board: the reply key made at submit, the shore's sealed question taken
from the downlink, opened only with the receipt, the answer sealed up; nothing in clear on disk."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import conversation, keys
from protocol.crew import Grievance, Reply, decode_crew
from protocol.downlinks import ShoreMessage
from protocol.errors import Malformed
from protocol.lang import Lang
from protocol.messages import CrewMessage, Delivered, decode_message
from protocol.seal import crew_info, open_sealed
from protocol.shore import pack_downlink
from tests.helpers import det_rng
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent import replykey
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.errors import LookupLocked, ReceiptError
from vessel_agent.status import receipt_status
from vessel_agent.terminal import CrewTerminal

T0 = 1_750_000_000
QUESTION = "ဒီအဖြစ်အပျက်က ဘယ်နေ့က ဖြစ်ခဲ့တာလဲ။ အခု လုံခြုံရဲ့လား။"
ANSWER = "တနင်္လာနေ့ပါ။ ကပ္ပတိန်က ငါတို့ရဲ့ ပတ်စပို့တွေကို သိမ်းထားတယ်။"
GRIEVANCE = "captain keeps our passports in the safe"
_rnd = random.Random(20)
LONG = QUESTION + "".join(chr(_rnd.randrange(0x1000, 0x102B)) for _ in range(250))


def _crew(dev: Device, fx: AgentFixture) -> dict[int, object]:
    out: dict[int, object] = {}
    for (encoded,) in dev.outbox.db.execute("SELECT encoded FROM messages ORDER BY seq"):
        msg = decode_message(bytes(encoded))
        if isinstance(msg, CrewMessage):
            plain = open_sealed(msg.sealed, [fx.shore.seal], crew_info(fx.kid, msg.seq, msg.time))
            out[msg.seq] = decode_crew(plain)
    return out


def _send_question(
    fx: AgentFixture, agent: Agent, reply_pub: bytes, ref_seq: int, msg_id: int, text: str
) -> int:
    """What the gateway does: seal to the reply key, split, sign; the agent applies each frame."""
    sealed = conversation.seal_text(
        conversation.ShoreText(lang=Lang.MY, text=text),
        reply_pub,
        to_kid=fx.kid,
        ref_seq=ref_seq,
        msg_id=msg_id,
    )
    parts = conversation.split(sealed, ref_seq=ref_seq, msg_id=msg_id)
    shore_kid = keys.key_id(fx.shore.sign.public_key())
    frames = [pack_downlink(fx.shore.sign, shore_kid, fx.kid, [p], T0 + 60)[0] for p in parts]
    for data in reversed(frames):  # MT order is not guaranteed
        agent.apply_downlink(data, T0 + 60)
    agent.apply_downlink(frames[-1], T0 + 61)  # a repeated part changes nothing
    return len(frames)


def _scan_disk(directory: Path, *texts: str) -> None:
    blobs = b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())
    for text in texts:
        for piece in (text, text[:12], text[-12:]):
            assert piece.encode() not in blobs
            assert piece.encode("utf-16-le") not in blobs


def test_receipt_derived_key_question_and_answer(agent_dir: AgentFixture) -> None:
    fx = agent_dir
    with Device(str(fx.dir)) as dev:
        done = dev.submit(category=0x16, lang=Lang.MY, text=GRIEVANCE, now=T0, rng=det_rng("g"))
        other = dev.submit(category=0x17, lang=Lang.EN, text="other", now=T0, rng=det_rng("o"))
        g = _crew(dev, fx)[done.seq]
        assert isinstance(g, Grievance) and g.reply_pub is not None
        # the agent keeps the salt, never a private key; the code re-makes the key
        salt, kdf = dev.outbox.db.execute(
            "SELECT salt, kdf FROM reply_keys WHERE seq = ?", (done.seq,)
        ).fetchone()
        assert json.loads(kdf) == ["scrypt-hkdf", 1024]
        device_salt = dev.outbox.meta("receipt_salt")
        assert isinstance(device_salt, bytes)
        key = replykey.from_material(replykey.material(done.receipt, device_salt), bytes(salt))
        assert keys.raw_public(key.public_key()) == g.reply_pub
        agent = Agent(dev)
        assert _send_question(fx, agent, g.reply_pub, done.seq, 5, LONG) >= 2
        # the box reports the message on board, whole, in a Delivered (not sealed: no words)
        delivered = [
            decode_message(bytes(e))
            for (e,) in dev.outbox.db.execute("SELECT encoded FROM messages ORDER BY seq")
        ]
        assert [m.ids for m in delivered if isinstance(m, Delivered)] == [(5,)]
        # the shore sends it all again (it did not hear of it): kept once, reported again
        _send_question(fx, agent, g.reply_pub, done.seq, 5, LONG)
        again = [
            decode_message(bytes(e))
            for (e,) in dev.outbox.db.execute("SELECT encoded FROM messages ORDER BY seq")
        ]
        assert [m.ids for m in again if isinstance(m, Delivered)] == [(5,), (5,)]
        assert dev.outbox.db.execute("SELECT COUNT(*) FROM shore_messages").fetchone() == (1,)
        # the holder of the receipt reads it; the other grievance's holder sees nothing
        st = receipt_status(dev, done.receipt.replace("-", " "), now=T0 + 100)
        assert [(m["from"], m["text"], m["lang"]) for m in st["messages"]] == [
            ("shore", LONG, "my")
        ]
        assert receipt_status(dev, other.receipt, now=T0 + 100)["messages"] == []
        # the crew terminal's look-up says so too, and shows it
        shown = CrewTerminal(dev, lang="en", clock=lambda: T0 + 150).lookup_text(done.receipt)
        assert "1 message(s) from shore" in shown and LONG in shown
        # the answer goes up sealed, as a Reply to the grievance
        q = dev.reply(done.receipt, ANSWER, Lang.MY, now=T0 + 200)
        reply = _crew(dev, fx)[q.seq]
        assert reply == Reply(ref_seq=done.seq, lang=Lang.MY, text=ANSWER)
    _scan_disk(fx.dir, QUESTION, ANSWER, GRIEVANCE)


def test_a_key_held_by_the_crew_members_device_leaves_the_text_sealed_on_board(
    agent_dir: AgentFixture,
) -> None:
    fx = agent_dir
    browser = X25519PrivateKey.from_private_bytes(bytes(range(32)))
    pub = keys.raw_public(browser.public_key())
    with Device(str(fx.dir)) as dev:
        done = dev.submit(
            category=0x16, lang=Lang.MY, text=GRIEVANCE, now=T0, rng=det_rng("a"), reply_pub=pub
        )
        g = _crew(dev, fx)[done.seq]
        assert isinstance(g, Grievance) and g.reply_pub == pub
        row = dev.outbox.db.execute("SELECT salt, kdf FROM reply_keys").fetchone()
        assert row == (None, None)  # nothing about the key is stored
        _send_question(fx, Agent(dev), pub, done.seq, 9, QUESTION)
        (m,) = receipt_status(dev, done.receipt, now=T0 + 100)["messages"]
        assert m["text"] is None
        import base64

        sealed = base64.b64decode(m["sealed"])
        opened = conversation.open_text(sealed, browser, to_kid=fx.kid, ref_seq=done.seq, msg_id=9)
        assert opened.text == QUESTION
        with pytest.raises(Exception, match="32 bytes"):
            dev.submit(category=0x16, lang=Lang.MY, text="x", reply_pub=b"short")
    _scan_disk(fx.dir, QUESTION)


def test_a_wrong_receipt_opens_nothing_and_guesses_are_throttled_across_processes(
    agent_dir: AgentFixture,
) -> None:
    fx = agent_dir
    with Device(str(fx.dir)) as dev:
        done = dev.submit(category=0x16, lang=Lang.EN, text=GRIEVANCE, now=T0, rng=det_rng("w"))
    wrong = "00000-00001" if done.receipt != "00000-00001" else "00000-00002"
    for i in range(5):
        with Device(str(fx.dir)) as dev, pytest.raises(ReceiptError):  # a new process each time
            receipt_status(dev, wrong, now=T0 + i)
    with Device(str(fx.dir)) as dev:
        with pytest.raises(LookupLocked):  # even the right code waits now
            receipt_status(dev, done.receipt, now=T0 + 10)
        with pytest.raises(LookupLocked):
            dev.reply(done.receipt, "yes", Lang.EN, now=T0 + 10)
        assert receipt_status(dev, done.receipt, now=T0 + 100)["seq"] == done.seq


def test_parts_for_unknown_grievances_or_other_vessels_are_dropped(
    agent_dir: AgentFixture,
) -> None:
    fx = agent_dir
    pub = keys.raw_public(X25519PrivateKey.from_private_bytes(bytes(32)).public_key())
    with Device(str(fx.dir)) as dev:
        agent = Agent(dev)
        _send_question(fx, agent, pub, 999, 3, "which day?")  # no such grievance here
        assert dev.outbox.db.execute("SELECT COUNT(*) FROM shore_messages").fetchone() == (0,)
        assert dev.outbox.db.execute("SELECT COUNT(*) FROM shore_parts").fetchone() == (0,)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.lists(
        st.builds(
            ShoreMessage,
            ref_seq=st.sampled_from([1, 2, 999]),
            msg_id=st.integers(1, 4),
            part=st.integers(0, 3),
            parts=st.integers(1, 4),
            chunk=st.binary(min_size=1, max_size=40),
        ).filter(lambda p: p.part < p.parts),
        max_size=12,
    )
)
def test_any_parts_are_stored_joined_or_refused_typed_and_the_agent_keeps_going(
    agent_dir: AgentFixture, parts: list[ShoreMessage]
) -> None:
    """Parts in any order, count, repetition or contradiction: each is kept, completes a
    message once, or is refused as Malformed — never another error, never a message twice."""
    with Device(str(agent_dir.dir)) as dev:
        if dev.outbox.db.execute("SELECT COUNT(*) FROM reply_keys").fetchone() == (0,):
            dev.submit(category=0x17, lang=Lang.EN, text="x", now=T0, rng=det_rng("h"))
        dev.outbox.db.execute("DELETE FROM shore_parts")
        dev.outbox.db.execute("DELETE FROM shore_messages")
        done: list[int] = []
        for p in parts:
            try:
                got = dev.take_shore_part(p, T0)
            except Malformed:
                continue
            if got is not None:
                done.append(got)
        # a message completes once; only its part 0 coming again (a resend) reports it again
        for (mid,) in dev.outbox.db.execute("SELECT msg_id FROM shore_messages"):
            assert mid in done
        stored = dev.outbox.db.execute("SELECT ref_seq FROM shore_messages").fetchall()
        assert all(r == (1,) for r in stored)  # only for a grievance of this box with a key
