"""A damaged outbox page: the agent keeps what it can read, says what it lost, reuses no seq.

Real outboxes with queued, sent and acked grievances, heartbeats, receipts and case notes get
one page overwritten — a leaf of the messages table, the meta table, an index, the schema page
— and are then opened by a device (as the agent, ``submit``, ``status`` and the terminal do)
or by ``flip vessel status``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protocol.downlinks import CaseState, CaseStatus
from protocol.lang import Lang
from protocol.messages import Heartbeat, LossReason, LostRange, decode_message
from tests.helpers import det_rng
from tests.vessel_agent.conftest import make_agent_dir
from vessel_agent import lost as lost_seqs
from vessel_agent import salvage
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.errors import OutboxCorrupt
from vessel_agent.outbox import Kind, State
from vessel_agent.status import status

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000
N = 120


def _text(i: int) -> str:
    return f"QZXSECRET{i:04d} the captain kept my passport and wages {i}"


@dataclass
class Populated:
    dir: Path
    db: Path
    receipts: dict[int, str]  # parent seq → receipt code
    rows: dict[int, tuple[int, int, int]]  # seq → (parent, kind, state)
    next_seq: int
    salt: bytes


def _populate(tmp_path: Path) -> Populated:
    fx = make_agent_dir(tmp_path)
    receipts: dict[int, str] = {}
    with Device(str(fx.dir)) as dev:
        rng = det_rng("recovery")
        for i in range(N):
            cat = 0xF1 if i % 10 == 3 else 0x17
            done = dev.submit(category=cat, lang=Lang.EN, text=_text(i), now=T0 + i, rng=rng)
            receipts[done.seq] = done.receipt
            if i % 15 == 0:
                dev.queue_heartbeat(T0 + i)
        ob = dev.outbox
        pending = ob.load_pending()
        ob.mark_sent(pending[:60], T0 + 500)
        acked = [m.seq for m in pending[:30]]
        ob.mark_acked(acked, T0 + 600)
        for parent in list(receipts)[:8]:
            status = CaseStatus(ref_seq=parent, case_ref="C-1", status=CaseState.OPENED, note=3)
            assert ob.store_status(status, T0 + 700)
        nxt, _ = ob.seq_state()
        salt = ob.meta("receipt_salt")
        assert isinstance(salt, bytes)
        rows = {
            s: (p, k, st)
            for s, p, k, st in ob.db.execute("SELECT seq, parent, kind, state FROM messages")
        }
    db = fx.dir / "outbox.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return Populated(fx.dir, db, receipts, rows, nxt, salt)


def _pages(db: Path, name: str) -> list[int]:
    con = sqlite3.connect(db)
    try:
        return [
            r[0]
            for r in con.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
                (name,),
            )
        ]
    finally:
        con.close()


def _damage(db: Path, page: int, *, start: int = 0) -> bytes:
    con = sqlite3.connect(db)
    size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    raw = bytearray(db.read_bytes())
    at = (page - 1) * size
    raw[at + start : at + size] = b"\xa5" * (size - start)
    db.write_bytes(bytes(raw))
    return bytes(raw)


class Events:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        self.records.append({"event": event, "level": level, **fields})


def _expand(ranges: list[list[int]]) -> set[int]:
    return {s for a, b in ranges for s in range(a, b + 1)}


def _no_plaintext(d: Path, *more: str) -> None:
    blobs = [p.read_bytes() for p in d.iterdir() if p.is_file()]
    for blob in (*blobs, *(m.encode() for m in more)):
        assert b"QZXSECRET" not in blob
        assert "QZXSECRET".encode("utf-16-le") not in blob


def _check_survivors(dev: Device, pop: Populated, lost: set[int]) -> None:
    """Every row not lost is back with its state, receipts work, seqs are not reused."""
    rows = {
        s: (p, k, st)
        for s, p, k, st in dev.outbox.db.execute("SELECT seq, parent, kind, state FROM messages")
    }
    assert set(rows) == set(pop.rows) - lost
    assert all(rows[s] == pop.rows[s] for s in rows)
    for parent, code in pop.receipts.items():
        view = dev.lookup(code)
        if parent in lost:
            assert view is None
        elif dev.outbox.meta("receipt_salt") == pop.salt:
            assert view is not None and view.seq == parent
    assert dev.session.next_seq >= pop.next_seq
    again = dev.submit(category=0x17, lang=Lang.EN, text="after the recovery QZXSECRET")
    assert again.seq >= pop.next_seq
    assert again.seq not in pop.rows


def test_damaged_messages_leaf_keeps_every_other_row_and_names_the_lost_seqs(
    tmp_path: Path,
) -> None:
    pop = _populate(tmp_path)
    leaves = _pages(pop.db, "messages")
    assert len(leaves) >= 4
    damaged = _damage(pop.db, leaves[len(leaves) // 2])
    log = Events()
    with Device(str(pop.dir), log=log) as dev:
        report = dev.recovery
        assert report is not None
        # the evidence: the damaged file, byte for byte, next to the fresh outbox
        evidence = pop.dir / report["evidence"]
        assert evidence.name.startswith("outbox.db.corrupt-")
        assert evidence.read_bytes() == damaged
        lost = set(pop.rows) - {r[0] for r in dev.outbox.db.execute("SELECT seq FROM messages")}
        assert 0 < len(lost) < 40
        pending = {s for s in lost if pop.rows[s][2] < State.ACKED}
        acked = lost - pending
        # the indexes name every lost row exactly, pending and acked apart
        assert _expand(report["lost"]["pending_seqs"]) == pending
        assert _expand(report["lost"]["acked_seqs"]) == acked
        unsent = {s for s in pending if pop.rows[s][2] == State.QUEUED}
        assert _expand(report["lost"]["pending_unsent_seqs"]) == unsent
        grievances = {pop.rows[s][0] for s in pending if pop.rows[s][1] == Kind.CREW}
        assert report["lost"]["pending_grievances"] == len(grievances)
        assert report["salvaged"]["messages"] == len(pop.rows) - len(lost)
        assert report["seq"] == {"next_seq": pop.next_seq, "from": "meta", "skipped": None}
        assert report["chain"] == "kept"
        assert report["salvaged"]["case_status"] >= 1
        # declared to shore in the next heartbeat: the unsent rows that are gone (reason 2)
        held, _ = lost_seqs.held(dev.outbox.db)
        assert {s for a, b, r in held for s in range(a, b + 1) if r == 2} == unsent
        _check_survivors(dev, pop, lost)
        hb = decode_message(dev.queue_heartbeat(T0 + 900).encoded)
        assert isinstance(hb, Heartbeat) and hb.lost_count == len(unsent)
        assert status(dev)["recovered"] == report
    events = [r for r in log.records if r["event"] == "outbox_recovered"]
    assert len(events) == 1 and events[0]["lost_pending_seqs"] == report["lost"]["pending_seqs"]
    # opened again: healthy, nothing more to recover, the report stays visible
    with Device(str(pop.dir), log=log) as dev:
        assert dev.recovery is None
        assert status(dev)["recovered"] == report
    assert len([r for r in log.records if r["event"] == "outbox_recovered"]) == 1
    assert len(list(pop.dir.glob("outbox.db.corrupt-*"))) == 1
    _no_plaintext(pop.dir, json.dumps(log.records), json.dumps(report))


def test_damaged_meta_page_restarts_seqs_above_anything_seen_with_a_margin(
    tmp_path: Path,
) -> None:
    pop = _populate(tmp_path)
    (meta,) = _pages(pop.db, "meta")
    _damage(pop.db, meta)
    log = Events()
    with Device(str(pop.dir), log=log) as dev:
        report = dev.recovery
        assert report is not None
        assert report["lost"]["meta"] is True
        assert report["lost"]["receipt_salt"] is True  # receipt codes cannot be checked now
        assert report["seq"]["from"] == "margin" and report["chain"] == "restarted"
        first, last = report["seq"]["skipped"]
        assert first <= pop.next_seq  # never below a seq that may have gone on air
        assert last - first + 1 == salvage.SEQ_MARGIN
        assert dev.session.next_seq == last + 1 == report["seq"]["next_seq"]
        _check_survivors(dev, pop, set())  # every message row survived
        # declared to shore in the next heartbeat: skipped after a recovery (reason 3)
        assert lost_seqs.held(dev.outbox.db) == ([(first, last, LossReason.SKIPPED)], 0)
        hb = decode_message(dev.queue_heartbeat(T0 + 900).encoded)
        assert isinstance(hb, Heartbeat) and hb.lost_count == salvage.SEQ_MARGIN
        assert hb.lost == (LostRange(first=first, last=last, reason=LossReason.SKIPPED),)
        # the new salt works for new receipts
        new = dev.submit(category=0x17, lang=Lang.EN, text="", rng=det_rng("x"))
        assert dev.lookup(new.receipt) is not None
    (event,) = [r for r in log.records if r["event"] == "outbox_recovered"]
    assert event["seq_from"] == "margin" and event["skipped_seqs"] == [first, last]
    _no_plaintext(pop.dir, json.dumps(log.records))


@pytest.mark.parametrize("index", ["messages_parent", "messages_open"])
def test_damaged_index_loses_nothing(tmp_path: Path, index: str) -> None:
    pop = _populate(tmp_path)
    _damage(pop.db, _pages(pop.db, index)[0])
    with Device(str(pop.dir), log=Events()) as dev:
        report = dev.recovery
        assert report is not None and report["problems"] != 0
        assert report["seq"]["from"] == "meta"
        assert not report["lost"]["pending_seqs"] and not report["lost"]["acked_seqs"]
        assert report["lost"]["receipts"] == 0 and not report["lost"]["unreadable_seqs"]
        _check_survivors(dev, pop, set())
        ok = dev.outbox.db.execute("PRAGMA integrity_check").fetchone()[0]
        assert ok == "ok"


def test_damaged_schema_page_is_rebuilt_and_everything_salvaged(tmp_path: Path) -> None:
    pop = _populate(tmp_path)
    _damage(pop.db, 1)  # header and schema: "file is not a database"
    with Device(str(pop.dir), log=Events()) as dev:
        report = dev.recovery
        assert report is not None and report["schema_page_rebuilt"] is True
        assert report["seq"]["from"] == "meta"
        _check_survivors(dev, pop, set())


def test_a_garbled_name_on_the_schema_page_is_damage_too(tmp_path: Path) -> None:
    """SQLite's error then quotes bytes that are not UTF-8, and Python raises UnicodeDecodeError
    instead of sqlite3.DatabaseError; the outbox is salvaged all the same (found by the random
    damage test with other seeds)."""
    pop = _populate(tmp_path)
    raw = pop.db.read_bytes()
    assert raw.count(b"messages_parent") == 2  # the entry's name and its CREATE INDEX text
    raw = raw.replace(b"messages_parent ON", b"messages_parent OX")  # and not parseable
    pop.db.write_bytes(raw.replace(b"messages_parent", b"\xdfessages_parent"))
    with pytest.raises(UnicodeDecodeError):
        sqlite3.connect(pop.db).execute("PRAGMA journal_mode=WAL")
    with Device(str(pop.dir), log=Events()) as dev:
        report = dev.recovery
        assert report is not None and report["seq"]["from"] == "meta"
        _check_survivors(dev, pop, set())


def test_flip_vessel_status_recovers_and_reports_it(tmp_path: Path) -> None:
    pop = _populate(tmp_path)
    leaves = _pages(pop.db, "messages")
    _damage(pop.db, leaves[-1], start=8)  # the newest rows, header intact
    out = subprocess.run(
        [sys.executable, "-m", "flip", "vessel", "status", "--dir", str(pop.dir), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)["recovered"]
    assert rec["salvaged"]["messages"] < len(pop.rows)
    assert rec["lost"]["pending_seqs"] and rec["lost"]["pending_grievances"] >= 1
    assert json.loads(out.stdout)["next_seq"] == pop.next_seq
    logged = [json.loads(line) for line in out.stderr.splitlines()]
    assert [r["event"] for r in logged] == ["outbox_recovered"]
    _no_plaintext(pop.dir, out.stdout, out.stderr)
    text = subprocess.run(
        [sys.executable, "-m", "flip", "vessel", "status", "--dir", str(pop.dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "damaged and recovered" in text.stdout and not text.stderr


def test_agent_starts_on_a_recovered_outbox_and_resends_what_was_kept(tmp_path: Path) -> None:
    pop = _populate(tmp_path)
    _damage(pop.db, _pages(pop.db, "messages")[2])
    with Device(str(pop.dir), log=Events()) as dev:
        agent = Agent(dev, clock=lambda: float(T0 + 1000), log=Events())  # type: ignore[arg-type]
        agent.step(T0 + 1000)
        pending = {r[0] for r in dev.outbox.db.execute("SELECT seq FROM messages WHERE state < 2")}
        assert set(dev.session.outbox) >= pending and pending
        assert min(dev.session.outbox) > 0


def test_a_crash_between_salvage_and_swap_is_finished_on_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pop = _populate(tmp_path)
    _damage(pop.db, _pages(pop.db, "messages")[1])

    def crash(db: Path) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(salvage.files, "swap", crash)
    with pytest.raises(KeyboardInterrupt):
        Device(str(pop.dir), log=Events())
    assert (pop.dir / "outbox.db.recovering").exists()
    monkeypatch.undo()
    with Device(str(pop.dir), log=Events()) as dev:
        assert dev.recovery is None  # the earlier run's salvage, swapped in now
        assert salvage.recovered(dev.outbox) is not None
        assert dev.session.next_seq == pop.next_seq
    assert not (pop.dir / "outbox.db.recovering").exists()


def test_recovery_waits_for_other_processes_to_close_the_outbox(tmp_path: Path) -> None:
    pop = _populate(tmp_path)
    holder = salvage.OutboxLock(pop.db)
    holder.shared()  # e.g. the crew terminal has the outbox open
    try:
        _damage(pop.db, _pages(pop.db, "messages")[1])
        with pytest.raises(OutboxCorrupt, match="another process"):
            salvage.open_outbox(pop.db, lock_wait_s=0.2)
    finally:
        holder.close()
    ob, report = salvage.open_outbox(pop.db, lock_wait_s=0.2)
    ob.close()
    assert report is not None


def test_agent_stops_when_its_outbox_turns_out_damaged_while_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restart (systemd Restart=always) then salvages it at start."""
    fx = make_agent_dir(tmp_path)
    log = Events()
    with Device(str(fx.dir), log=log) as dev:
        agent = Agent(dev, clock=lambda: float(T0), log=log)  # type: ignore[arg-type]

        def broken(*_: object, **__: object) -> None:
            raise sqlite3.DatabaseError("database disk image is malformed")

        monkeypatch.setattr(dev.outbox, "sync", broken)
        agent.step(T0)
        assert agent.stop.is_set()
        assert [r["event"] for r in log.records][-2:] == ["outbox_error", "outbox_damaged"]


def test_random_damage_never_reuses_a_seq_nor_invents_a_row(tmp_path: Path) -> None:
    """Any page, any damage: the device opens, every row it kept is an old row (same seq,
    parent, kind), and the next seq is above every seq the outbox had ever assigned.

    Not asserted: that kept rows are byte-identical. SQLite keeps no page checksums, so bytes
    changed inside a record that stays well-formed (say, inside a ciphertext) pass every check
    on board — the vessel cannot open the seal; ashore it fails to open and the chain disagrees
    (docs/vessel-agent.md, "Damaged outbox"). Seed 4 hits that case in trial 3.
    """
    import random
    import shutil

    (tmp_path / "base").mkdir()
    pop = _populate(tmp_path / "base")
    con = sqlite3.connect(pop.db)
    original = {r[0]: r for r in con.execute("SELECT * FROM messages")}
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    rnd = random.Random(4)
    recovered = 0
    # 20 trials: the outbox file also holds the conversation tables (vessel_agent.inbox), whose
    # pages damage may hit without touching the outbox's own tables
    for trial in range(20):
        d = tmp_path / f"t{trial}"
        shutil.copytree(pop.dir, d)
        db = d / "outbox.db"
        raw = bytearray(db.read_bytes())
        for _ in range(rnd.choice([1, 1, 2, 3])):
            page = rnd.randrange(pages)
            start = rnd.randrange(size)
            end = min(size, start + rnd.choice([8, 64, size]))
            raw[page * size + start : page * size + end] = rnd.randbytes(end - start)
        db.write_bytes(bytes(raw))
        with Device(str(d), log=Events()) as dev:
            recovered += dev.recovery is not None
            kept = {r[0]: r for r in dev.outbox.db.execute("SELECT * FROM messages")}
            assert set(kept) <= set(original), trial
            assert all(kept[s][:3] == original[s][:3] for s in kept), trial
            assert dev.session.next_seq >= pop.next_seq, trial
            seq = dev.submit(category=0x17, lang=Lang.EN, text="x").seq
            assert seq >= pop.next_seq and seq not in original, trial
            if dev.recovery is not None:
                lost = set(original) - set(kept)
                named = _expand(dev.recovery["lost"]["pending_seqs"])
                named |= _expand(dev.recovery["lost"]["acked_seqs"])
                named |= _expand(dev.recovery["lost"]["unreadable_seqs"])
                assert lost <= named or not dev.recovery["read_complete"]["indexes"], trial
    assert recovered >= 6
