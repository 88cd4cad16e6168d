"""Outbox: plaintext never on disk, seqs and chain persisted together, storage policy, acks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from protocol import chain
from protocol.downlinks import CaseState, CaseStatus
from protocol.lang import Lang
from protocol.vessel import Outgoing, VesselSession
from tests.helpers import VesselShorePair, det_rng
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent.device import Device
from vessel_agent.errors import IllegalTransition, OutboxError, OutboxFull
from vessel_agent.outbox import TRANSITIONS, Event, Kind, State
from vessel_agent.receipt import code_hash, normalize

T0 = 1_750_000_000

SECRETS = [
    ("my", "ကပ္ပတိန်က ငါ့ပတ်စပို့ကို သိမ်းထားတယ် ZEBRAQUARTZ"),
    ("th", "นายท้ายยึดหนังสือเดินทางของฉัน"),
    ("en", "Captain Hook kept my passport since March, owes 4000 USD"),
]


def _noise(n: int) -> str:
    """Incompressible Burmese-range text (forces fragmentation)."""
    return "".join(chr(0x1000 + b % 0x21) for b in det_rng("noise")(n))


def _disk_bytes(d: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(d.iterdir()) if p.name.startswith("outbox.db"))


def test_plaintext_never_reaches_the_database_or_wal(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        for i, (lang, text) in enumerate(SECRETS):
            dev.submit(category=0x16, lang=Lang[lang.upper()], text=text, now=T0 + i)
        wal = agent_dir.dir / "outbox.db-wal"
        assert wal.exists() and wal.stat().st_size > 0  # the WAL really holds the commits
        for data in (_disk_bytes(agent_dir.dir), wal.read_bytes()):
            for _, text in SECRETS:
                for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                    blob = text.encode(encoding)
                    assert blob not in data
                    # distinctive substrings too (a compressor's literal runs are short)
                    for word in text.split():
                        if len(word) >= 5:
                            assert word.encode(encoding) not in data, word
            assert b"ZEBRAQUARTZ" not in data and b"Hook" not in data
    assert b"ZEBRAQUARTZ" not in _disk_bytes(agent_dir.dir)  # after checkpoint on close, too


def test_receipt_code_is_not_stored_only_its_hash(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        sub = dev.submit(category=0x17, lang=Lang.EN, text="", now=T0, rng=det_rng("r"))
        data = _disk_bytes(agent_dir.dir)
        assert sub.receipt.encode() not in data
        assert sub.receipt.replace("-", "").encode() not in data
        salt = dev.outbox.meta("receipt_salt")
        assert isinstance(salt, bytes)
        rows = dev.outbox.db.execute("SELECT code_hash, seq FROM receipts").fetchall()
        assert rows == [(code_hash(sub.receipt, salt), sub.seq)]
        assert normalize(" 1234567890 ") == "12345-67890"


def test_seq_and_chain_persist_across_reopen_and_match_the_protocol(
    agent_dir: AgentFixture,
) -> None:
    with Device(str(agent_dir.dir)) as dev:
        a = dev.submit(category=0x17, lang=Lang.MY, text="x" * 10, now=T0)
        dev.queue_heartbeat(T0 + 1)
    with Device(str(agent_dir.dir)) as dev:
        b = dev.submit(category=0x17, lang=Lang.MY, text=_noise(700), now=T0 + 2)
        assert b.seq == a.seq + 2 and b.fragments > 1
        nxt, value = dev.outbox.seq_state()
        assert nxt == b.seq + b.fragments
        # recompute the chain over what is stored: it matches the committed value
        rows = dev.outbox.db.execute("SELECT seq, encoded FROM messages ORDER BY seq").fetchall()
        c = chain.GENESIS
        for seq, enc in rows:
            c = chain.advance(c, seq, chain.digest(enc))
        assert c == value
        assert [r[0] for r in rows] == list(range(1, nxt))


def test_storage_policy_evicts_heartbeats_then_positions_never_grievances(
    tmp_path: Path,
) -> None:
    from tests.vessel_agent.conftest import make_agent_dir

    fx = make_agent_dir(tmp_path, max_queue_bytes=400)
    with Device(str(fx.dir)) as dev:
        g = [dev.submit(category=0x17, lang=Lang.EN, text="w" * 40, now=T0 + i) for i in range(3)]
        for i in range(10):
            dev.queue_heartbeat(T0 + 10 + i)
            dev.queue_position(
                time_s=T0 + i, lat=1.0, lon=2.0, speed_kn=3, course_deg=4, now=T0 + 10 + i
            )
        st = dev.outbox.stats()
        assert st.pending_bytes <= 400
        assert st.evicted_total > 0
        kinds = dict(
            dev.outbox.db.execute(
                "SELECT kind, COUNT(*) FROM messages WHERE state < 2 GROUP BY kind"
            ).fetchall()
        )
        assert kinds[Kind.CREW] == 3  # every grievance kept
        assert kinds.get(Kind.HEARTBEAT, 0) <= 1  # heartbeats went first
        assert kinds.get(Kind.POSITION, 0) >= 1
        # grievances still fit in the reserve; beyond it: a clear refusal, nothing half-stored
        with pytest.raises(OutboxFull):
            for i in range(200):
                dev.submit(category=0x17, lang=Lang.EN, text="v" * 200, now=T0 + 100 + i)
        nxt, _ = dev.outbox.seq_state()
        assert dev.outbox.db.execute("SELECT MAX(seq) FROM messages").fetchone()[0] == nxt - 1
        assert all(dev.lookup(s.receipt) is not None for s in g)


def test_ack_keeps_receipt_drops_ciphertext_and_routine_rows(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        sub = dev.submit(category=0x17, lang=Lang.EN, text="t", now=T0)
        hb = dev.queue_heartbeat(T0)
        items = list(dev.session.outbox.values())
        dev.outbox.mark_sent(items, T0 + 1)
        assert dev.lookup(sub.receipt).state == "sent"  # type: ignore[union-attr]
        assert dev.outbox.mark_acked([sub.seq, hb.seq], T0 + 2) == [sub.seq, hb.seq]
        assert dev.outbox.mark_acked([sub.seq], T0 + 3) == []  # idempotent
        rows = dev.outbox.db.execute("SELECT seq, state, encoded FROM messages").fetchall()
        assert rows == [(sub.seq, State.ACKED, None)]
        assert dev.lookup(sub.receipt).state == "received"  # type: ignore[union-attr]
        assert dev.outbox.store_status(
            CaseStatus(ref_seq=sub.seq, case_ref="K1", status=CaseState.REMEDIATED, note=4), T0 + 4
        )
        assert not dev.outbox.store_status(
            CaseStatus(ref_seq=hb.seq, case_ref="K2", status=1, note=0), T0 + 4
        )
        # retention: purge forgets the acked crew row, its receipt and notes
        assert dev.outbox.purge(T0 + 10, retention_s=1) == 1
        assert dev.lookup(sub.receipt) is None


def test_transition_table_never_deletes_crew_by_eviction_and_acked_is_final() -> None:
    assert all(src is not State.ACKED for src, _ in TRANSITIONS)
    assert TRANSITIONS[(State.SENT, Event.ACK)] is State.ACKED


def test_restored_session_frames_verify_at_shore(agent_dir: AgentFixture) -> None:
    """What the outbox restores after a restart is exactly what the shore accepts."""
    with Device(str(agent_dir.dir)) as dev:
        sub = dev.submit(category=0x17, lang=Lang.MY, text="ငါ့လစာ", now=T0)
    with Device(str(agent_dir.dir)) as dev:
        dev.outbox.sync(dev.session)
        pair = VesselShorePair(shore_keys=agent_dir.shore, device_key=dev.session.sign_key)
        pair.vessel = dev.session
        _frames, _events = pair.uplink(T0 + 5)
        assert [e.seq for e in pair.received] == [sub.seq]


def test_schema_has_no_plaintext_columns(agent_dir: AgentFixture) -> None:
    db = sqlite3.connect(agent_dir.dir / "outbox.db")
    cols = {
        r[1]
        for t in ("messages", "receipts", "case_status", "meta")
        for r in db.execute(f"PRAGMA table_info({t})")
    }
    db.close()
    assert not cols & {"text", "category", "lang", "receipt", "code", "name"}


def test_a_pair_missing_from_the_transition_table_is_refused_and_nothing_is_written(
    agent_dir: AgentFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Device(str(agent_dir.dir)) as dev:
        sub = dev.submit(category=0x17, lang=Lang.EN, text="wages", now=T0)
        items = list(dev.session.outbox.values())
        monkeypatch.delitem(TRANSITIONS, (State.QUEUED, Event.SESSION_OK))
        with pytest.raises(IllegalTransition):
            dev.outbox.mark_sent(items, T0 + 1)
        row = dev.outbox.db.execute("SELECT state, sent_at FROM messages WHERE seq = ?", (sub.seq,))
        assert row.fetchone() == (int(State.QUEUED), None)


def test_a_failed_store_restores_the_session_to_the_committed_seq_and_chain(
    agent_dir: AgentFixture,
) -> None:
    with Device(str(agent_dir.dir)) as dev:
        dev.submit(category=0x17, lang=Lang.EN, text="first", now=T0)
        before, queued = dev.session.snapshot(), dict(dev.session.outbox)

        def build_then_fail(s: VesselSession) -> list[Outgoing]:
            s.queue_heartbeat(T0 + 1)
            raise sqlite3.OperationalError("disk I/O error")

        with pytest.raises(OutboxError):
            dev.outbox.queue(dev.session, build_then_fail, Kind.HEARTBEAT)
        assert dev.session.snapshot() == before == dev.outbox.seq_state()
        assert dev.session.outbox == queued
