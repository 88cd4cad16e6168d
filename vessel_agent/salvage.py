"""A damaged outbox: keep the evidence, salvage every row still readable, say what was lost.

:func:`open_outbox` is how every process (agent, ``flip vessel status|submit``, the crew
terminal) opens the outbox. When ``PRAGMA quick_check`` fails it does not stop at refusing:

1. under an exclusive lock (no other process has the outbox open) the damaged file and its WAL
   are *copied* to ``outbox.db.corrupt-<UTC time>`` — the evidence, never deleted;
2. a working copy is read table by table, row by row: forward and backward scans, then every
   seq probed on its own by rowid, so one unreadable page costs only the rows on it; the two
   message indexes say which seqs existed even where the table page is gone; if the schema page
   itself is unreadable it is replaced by a fresh one of the same schema (root pages are fixed
   by the order of creation);
3. a fresh outbox is built next to it (``outbox.db.recovering``), then swapped in. A crash at
   any step either redoes the salvage from the untouched damaged file or finishes the swap.

What is kept: unacknowledged sealed messages (ciphertext, checked to decode with their own seq),
acked crew rows, receipt hashes and case status notes, the meta values (seq counter, chain,
receipt salt, shore config and keys). The seq counter is never lowered: if it or the chain
value cannot be read, the next seq is the highest seq seen anywhere + 1 + :data:`SEQ_MARGIN`,
so a seq that may have gone on air is never reused; the skipped seqs show up ashore as a gap,
which also keeps the shore from checking the restarted chain across it.

The report (:func:`recover` returns it; stored as meta ``recovered``, logged as
``outbox_recovered``, shown by ``flip vessel status``) has counts and seq ranges only — never
ciphertext, receipt hashes or text.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from protocol import chain
from protocol.errors import ProtocolError
from protocol.messages import CHAIN_LEN, U32, LossReason, decode_message, seq_of
from protocol.seqranges import runs
from vessel_agent import lost
from vessel_agent.errors import OutboxCorrupt
from vessel_agent.outbox import _SCHEMA, Kind, Outbox, State
from vessel_agent.receipt import HASH_LEN

#: Seqs skipped after a recovery that lost the seq counter (or the chain value with it).
SEQ_MARGIN = 1024
#: At most this many seq ranges per list in the report.
MAX_RANGES = 32
#: Seconds to wait for other processes to close the outbox before recovering.
LOCK_WAIT_S = 10.0

LogFn = Callable[..., None]

_MSG_COLS = (
    "seq, parent, kind, priority, created, state, attempts, next_try, sent_at, acked_at, size, "
    "encoded"
)
_SELECT_MESSAGES = f"SELECT {_MSG_COLS} FROM messages"  # noqa: S608 — constants only
_INSERT_MESSAGE = f"INSERT INTO messages ({_MSG_COLS}) VALUES ({','.join('?' * 12)})"  # noqa: S608
_OPEN_INDEX = (
    "SELECT seq, state, kind FROM messages INDEXED BY messages_open WHERE state < 2 "
    "ORDER BY state, kind",
    "SELECT seq, state, kind FROM messages INDEXED BY messages_open WHERE state < 2 "
    "ORDER BY state DESC, kind DESC",
)
_PARENT_INDEX = (
    "SELECT seq, parent FROM messages INDEXED BY messages_parent WHERE parent >= 0 ORDER BY parent",
    "SELECT seq, parent FROM messages INDEXED BY messages_parent WHERE parent >= 0 "
    "ORDER BY parent DESC",
)


# --- opening -------------------------------------------------------------------------------


class _Lock:
    """``flock`` on ``<db>.lock``: shared while a process has the outbox open, exclusive to
    recover it (so a file another process is writing is never swapped under it)."""

    def __init__(self, db: Path) -> None:
        self.fd = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def shared(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_SH)

    def exclusive(self, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class LockedOutbox(Outbox):
    """An :class:`Outbox` that holds the shared recovery lock until closed."""

    lock: _Lock | None = None

    def close(self) -> None:
        super().close()
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def open_outbox(
    path: str | Path,
    *,
    max_queue_bytes: int = 2_000_000,
    log: LogFn | None = None,
    lock_wait_s: float = LOCK_WAIT_S,
) -> tuple[Outbox, dict[str, Any] | None]:
    """Open the outbox, recovering it first if it is damaged. Returns (outbox, report or None).

    Raises:
        OutboxCorrupt: damaged, and another process keeps it open (stop it and start again).
        OutboxError: cannot be opened for another reason.
    """
    db = Path(path)
    lock = _Lock(db)
    try:
        lock.shared()
        damage = ""
        if not _recovering(db).exists():
            try:
                return _locked(db, max_queue_bytes, lock), None
            except OutboxCorrupt as exc:
                damage = str(exc)
        if not lock.exclusive(lock_wait_s):
            raise OutboxCorrupt(
                f"{damage or f'outbox {db} is being recovered'}; another process (agent, "
                "terminal) has it open — stop it and start again so it can be recovered"
            )
        report: dict[str, Any] | None = None
        if _recovering(db).exists():
            _swap(db)  # a recovery that crashed before its swap: finish it
        else:
            try:
                Outbox(db, max_queue_bytes=max_queue_bytes).close()  # recovered meanwhile?
            except OutboxCorrupt:
                report = recover(db)
                if log is not None:
                    log("outbox_recovered", level="error", **_log_fields(report))
        lock.shared()
        return _locked(db, max_queue_bytes, lock), report
    except BaseException:
        lock.close()
        raise


def _locked(db: Path, max_queue_bytes: int, lock: _Lock) -> Outbox:
    ob = LockedOutbox(db, max_queue_bytes=max_queue_bytes)
    ob.lock = lock
    return ob


def _recovering(db: Path) -> Path:
    return db.with_name(db.name + ".recovering")


def _side(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(db: Path) -> None:
    """Put the finished ``.recovering`` file in place of the damaged one and its WAL."""
    for suffix in ("-wal", "-shm"):  # the evidence copy already holds them
        with contextlib.suppress(FileNotFoundError):
            _side(db, suffix).unlink()
    os.replace(_recovering(db), db)
    _fsync_dir(db.parent)


# --- recovery ------------------------------------------------------------------------------


def recover(db: Path, *, now: float | None = None) -> dict[str, Any]:
    """Copy the damaged outbox aside, salvage it into a fresh one and swap that in.

    The caller holds the exclusive lock (:func:`open_outbox`). Returns the report.
    """
    moment = time.time() if now is None else now
    evidence = _evidence_name(db, moment)
    for src, dst in _pairs(db, evidence):
        shutil.copyfile(src, dst)
        with open(dst, "rb") as fh:
            os.fsync(fh.fileno())
    work = _side(db, ".salvage")
    build = _side(db, ".recovering-tmp")
    for p in (work, build):
        _remove(p)
    for src, dst in _pairs(db, work):
        shutil.copyfile(src, dst)
    try:
        found = _Salvage(work).run()
        report = _build(build, found, evidence=evidence.name, now=moment)
    finally:
        _remove(work)
    os.replace(build, _recovering(db))
    _fsync_dir(db.parent)
    _swap(db)
    return report


def _pairs(db: Path, dst: Path) -> list[tuple[Path, Path]]:
    out = [(db, dst)]
    wal = _side(db, "-wal")
    if wal.exists() and wal.stat().st_size:
        out.append((wal, _side(dst, "-wal")))
    return out


def _remove(p: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            _side(p, suffix).unlink()


def _evidence_name(db: Path, moment: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))
    candidate = _side(db, f".corrupt-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = _side(db, f".corrupt-{stamp}-{n}")
    return candidate


class _Found:
    """What the salvage read from the damaged file."""

    def __init__(self) -> None:
        self.problems = 0
        self.meta: dict[str, object] = {}
        self.messages: dict[int, tuple[Any, ...]] = {}
        self.open_index: dict[int, tuple[int, int]] = {}  # seq → (state, kind)
        self.parent_index: dict[int, int] = {}  # seq → parent
        self.receipts: dict[bytes, int] = {}  # code hash → seq
        self.case_status: set[tuple[Any, ...]] = set()
        self.unreadable: set[int] = set()  # seqs whose row could not be read (if any existed)
        self.invalid = 0  # rows read but not plausible (damaged content)
        self.complete: dict[str, bool] = {}
        self.schema_rebuilt = False


class _Salvage:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.found = _Found()

    def run(self) -> _Found:
        f = self.found
        con = self._connect()
        try:
            self._problems(con)
            if not self._schema_ok(con):
                con.close()
                self._replace_schema_page()
                con = self._connect()
                f.schema_rebuilt = True
            self._meta(con)
            self._indexes(con)
            self._messages(con)
            self._receipts(con)
            self._case_status(con)
        finally:
            con.close()
        return f

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.work, isolation_level=None)
        con.text_factory = _text  # a damaged TEXT value must not abort a scan
        with contextlib.suppress(sqlite3.DatabaseError):
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one file to read (and repair)
        with contextlib.suppress(sqlite3.DatabaseError):
            con.execute("PRAGMA writable_schema=ON")  # read past a schema entry that fails
        return con

    def _problems(self, con: sqlite3.Connection) -> None:
        try:
            rows = [r[0] for r in con.execute("PRAGMA quick_check(1000)")]
            self.found.problems = 0 if rows == ["ok"] else len(rows)
        except sqlite3.DatabaseError:
            self.found.problems = -1  # not even the check could run

    @staticmethod
    def _schema_ok(con: sqlite3.Connection) -> bool:
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError:
            return False
        return {"meta", "messages", "receipts", "case_status"} <= names

    def _replace_schema_page(self) -> None:
        """Page 1 (header + schema) is unreadable: write a fresh page 1 of the same schema.

        Tables and indexes got root pages 2, 3, … in the order :data:`outbox._SCHEMA` creates
        them on a new file, so the fresh schema page points at the old b-trees.
        """
        raw = self.work.read_bytes()
        size = int.from_bytes(raw[16:18], "big") if len(raw) >= 18 else 0
        size = 65536 if size == 1 else size
        if size < 512 or size & (size - 1) or size > 65536:
            size = 4096
        tmpl = _side(self.work, ".template")
        _remove(tmpl)
        try:
            t = sqlite3.connect(tmpl, isolation_level=None)
            t.execute(f"PRAGMA page_size={size}")
            t.execute("PRAGMA journal_mode=WAL")
            t.executescript(_SCHEMA)
            t.close()
            page1 = bytearray(tmpl.read_bytes()[:size])
        finally:
            _remove(tmpl)
        page1[28:32] = (max(1, len(raw) // size)).to_bytes(4, "big")  # pages in the file
        page1[32:40] = bytes(8)  # no freelist (its pages are not ours to trust)
        with open(self.work, "r+b") as fh:
            fh.write(page1)

    # --- tables --------------------------------------------------------------------------

    def _read(self, con: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> Any:
        """Rows of a query until it fails; (rows, completed)."""
        out: list[tuple[Any, ...]] = []
        try:
            for row in con.execute(sql, tuple(params)):
                out.append(tuple(row))
        except sqlite3.DatabaseError:
            return out, False
        return out, True

    def _meta(self, con: sqlite3.Connection) -> None:
        f = self.found
        fwd, ok1 = self._read(con, "SELECT key, value FROM meta ORDER BY key")
        bwd, ok2 = self._read(con, "SELECT key, value FROM meta ORDER BY key DESC")
        for key, value in (*fwd, *bwd):
            if isinstance(key, str) and len(key) <= 64:
                f.meta[key] = value
        f.complete["meta"] = ok1 or ok2

    def _indexes(self, con: sqlite3.Connection) -> None:
        f = self.found
        ok = True
        for open_sql, parent_sql in zip(_OPEN_INDEX, _PARENT_INDEX, strict=True):
            rows, done = self._read(con, open_sql)
            ok = ok and done
            for seq, state, kind in rows:
                if _int(seq, 1, U32) and state in (0, 1) and kind in (1, 2, 3):
                    f.open_index[seq] = (state, kind)
            rows, done = self._read(con, parent_sql)
            ok = ok and done
            for seq, parent in rows:
                if _int(seq, 1, U32) and _int(parent, 1, seq):
                    f.parent_index[seq] = parent
        f.complete["indexes"] = ok

    def _messages(self, con: sqlite3.Connection) -> None:
        f = self.found
        hi_rows, _ = self._read(con, _SELECT_MESSAGES + " ORDER BY seq DESC")
        for row in hi_rows:
            self._message(row)
        nxt = f.meta.get("next_seq")
        hi = max(
            [
                nxt - 1 if isinstance(nxt, int) and _int(nxt, 1, U32 + 1) else 0,
                *f.messages,
                *f.open_index,
                *f.parent_index,
            ]
        )
        # Forward from seq 1: a failing read costs one seq, then the scan resumes after it.
        seq, ok = 1, True
        while seq <= hi:
            try:
                for row in con.execute(_SELECT_MESSAGES + " WHERE seq >= ? ORDER BY seq", (seq,)):
                    if not isinstance(row[0], int) or row[0] < seq:
                        raise sqlite3.DatabaseError("rows out of order")
                    self._message(tuple(row))
                    seq = row[0] + 1
                break
            except sqlite3.DatabaseError:
                ok = False
                f.unreadable.add(seq)
                seq += 1
        f.unreadable -= set(f.messages)
        f.complete["messages"] = ok

    def _message(self, row: tuple[Any, ...]) -> None:
        seq = row[0]
        if seq in self.found.messages:
            return
        if _valid_message(row):
            self.found.messages[seq] = row
        else:
            self.found.invalid += 1

    def _receipts(self, con: sqlite3.Connection) -> None:
        f = self.found
        fwd, ok1 = self._read(con, "SELECT code_hash, seq FROM receipts ORDER BY code_hash")
        bwd, ok2 = self._read(con, "SELECT code_hash, seq FROM receipts ORDER BY code_hash DESC")
        rows = [*fwd, *bwd]
        if not (ok1 or ok2):  # also by seq, through the unique index on it
            for parent in _crew_parents(f):
                got, _ = self._read(
                    con, "SELECT code_hash, seq FROM receipts WHERE seq = ?", [parent]
                )
                rows.extend(got)
        by_seq: dict[int, set[bytes]] = {}
        for code_hash, seq in rows:
            if isinstance(code_hash, bytes) and len(code_hash) == HASH_LEN and _int(seq, 1, U32):
                by_seq.setdefault(seq, set()).add(code_hash)
        # two hashes for one seq: one of them is damaged, and nobody can tell which
        f.receipts = {next(iter(h)): seq for seq, h in by_seq.items() if len(h) == 1}
        f.complete["receipts"] = ok1 or ok2

    def _case_status(self, con: sqlite3.Connection) -> None:
        f = self.found
        sel = "SELECT ref_seq, received, case_ref, status, note FROM case_status"
        fwd, ok1 = self._read(con, sel + " ORDER BY ref_seq")
        bwd, ok2 = self._read(con, sel + " ORDER BY ref_seq DESC")
        rows = [*fwd, *bwd]
        if not (ok1 or ok2):
            for parent in _crew_parents(f):
                got, _ = self._read(con, sel + " WHERE ref_seq = ?", [parent])
                rows.extend(got)
        for ref, received, case_ref, status, note in rows:
            if (
                _int(ref, 1, U32)
                and isinstance(received, (int, float))
                and isinstance(case_ref, str)
                and len(case_ref) <= 16
                and _int(status, 0, 0xFF)
                and _int(note, 0, 0xFFFF)
            ):
                f.case_status.add((ref, received, case_ref, status, note))
        f.complete["case_status"] = ok1 or ok2


class _Undecodable:
    """A TEXT value that is not UTF-8 (a damaged record); fails every validation."""


def _text(raw: bytes) -> object:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable()


def _int(value: object, lo: int, hi: int) -> bool:
    return type(value) is int and lo <= value <= hi


def _crew_parents(f: _Found) -> list[int]:
    parents = {r[1] for r in f.messages.values() if r[2] == Kind.CREW}
    parents |= {p for s, p in f.parent_index.items() if f.open_index.get(s, (0, 1))[1] == 1}
    return sorted(parents)


def _valid_message(row: tuple[Any, ...]) -> bool:
    seq, parent, kind, prio, created, state, attempts, next_try, sent, acked, size, enc = row
    if not (_int(seq, 1, U32) and _int(parent, 1, seq) and kind in (1, 2, 3)):
        return False
    if not (prio in (0, 1, 2) and state in (0, 1, 2) and _int(attempts, 0, 1 << 31)):
        return False
    if not all(isinstance(v, (int, float)) for v in (created, next_try)):
        return False
    if not all(v is None or isinstance(v, (int, float)) for v in (sent, acked)):
        return False
    if state == State.ACKED:
        return bool(kind == Kind.CREW and enc is None)
    if not isinstance(enc, bytes) or size != len(enc):
        return False
    try:
        return bool(seq_of(decode_message(enc)) == seq)
    except ProtocolError:
        return False


# --- the fresh outbox and the report ---------------------------------------------------------


def _ranges(seqs: Iterable[int]) -> list[list[int]]:
    return [[a, b] for a, b in runs(seqs)[:MAX_RANGES]]


def _declared(
    meta: dict[str, Any], pending_lost: dict[int, tuple[int, int]], skipped: list[int] | None
) -> dict[str, object]:
    """The seqs to declare to shore in the next heartbeats (vessel_agent/lost.py): unsent rows
    that are gone (reason 2) and the seqs the new counter skips (3). Lost rows that had gone on
    air most likely arrived ashore, so they are not declared."""
    declared, unlisted = lost.from_meta(meta)
    unsent = [s for s, (st, _) in pending_lost.items() if st == State.QUEUED]
    declared = lost.add(declared, runs(unsent), LossReason.DAMAGED)
    if skipped is not None and skipped[0] <= U32:
        declared = lost.add(declared, [(skipped[0], min(skipped[1], U32))], LossReason.SKIPPED)
    return lost.meta_values(declared, unlisted)


def _build(path: Path, f: _Found, *, evidence: str, now: float) -> dict[str, Any]:
    meta = dict(f.meta)
    for key in ("schema_version", "recovered"):
        meta.pop(key, None)
    salt = meta.get("receipt_salt")
    salt_ok = isinstance(salt, bytes) and len(salt) == 16
    if not salt_ok:
        meta.pop("receipt_salt", None)
    rows = f.messages
    # Drop the ciphertext of nothing: rows are kept as they were (acked crew rows have none).
    seen = max([0, *rows, *f.open_index, *f.parent_index, *f.receipts.values()])
    seen = max([seen, *(r[0] for r in f.case_status)])
    raw_next, value = meta.get("next_seq"), meta.get("chain")
    nxt = raw_next if isinstance(raw_next, int) and _int(raw_next, 1, U32 + 1) else None
    chain_ok = isinstance(value, bytes) and len(value) == CHAIN_LEN
    counter_ok = nxt is not None and chain_ok
    skipped: list[int] | None = None
    if nxt is not None and chain_ok and nxt > seen:
        next_seq, chain_value, source = nxt, value, "meta"
    else:
        floor = max(seen + 1, nxt or 1)
        next_seq, chain_value, source = floor + SEQ_MARGIN, chain.GENESIS, "margin"
        skipped = [floor, next_seq - 1]
    meta["next_seq"], meta["chain"] = next_seq, chain_value

    parents_kept = {r[1] for r in rows.values()}
    receipts = {h: s for h, s in f.receipts.items() if salt_ok and s in parents_kept}
    statuses = [c for c in f.case_status if c[0] in parents_kept]

    pending_lost = {s: sk for s, sk in f.open_index.items() if s not in rows}
    acked_lost = {s for s in f.parent_index if s not in rows and s not in f.open_index}
    lost_grievances = {
        f.parent_index.get(s, s) for s, (_, kind) in pending_lost.items() if kind == Kind.CREW
    }
    crew_parents = {r[1] for r in rows.values() if r[2] == Kind.CREW}
    meta.update(_declared(meta, pending_lost, skipped))
    evicted_prev = meta.get("evicted_total")
    report: dict[str, Any] = {
        "at": round(now, 3),
        "evidence": evidence,
        "problems": f.problems,
        "schema_page_rebuilt": f.schema_rebuilt,
        "read_complete": dict(f.complete),
        "salvaged": {
            "messages": len(rows),
            "pending": sum(1 for r in rows.values() if r[5] < State.ACKED),
            "grievances": len(crew_parents),
            "receipts": len(receipts),
            "case_status": len(statuses),
            "meta_keys": len(meta),
        },
        "lost": {
            # seqs the indexes name whose rows could not be read
            "pending_seqs": _ranges(pending_lost),
            "pending_unsent_seqs": _ranges(s for s, (st, _) in pending_lost.items() if st == 0),
            "pending_grievances": len(lost_grievances),
            "acked_seqs": _ranges(acked_lost),
            # seqs whose rows could not be read at all: lost if they existed (unknown which)
            "unreadable_seqs": _ranges(f.unreadable - set(f.open_index) - set(f.parent_index)),
            "invalid_rows": f.invalid,
            "receipts": len(crew_parents - set(receipts.values())),
            "receipt_salt": not salt_ok,
            "meta": not (counter_ok and f.complete.get("meta", False)),
        },
        "seq": {"next_seq": next_seq, "from": source, "skipped": skipped},
        "chain": "kept" if source == "meta" else "restarted",
        "evicted_total_before": evicted_prev if isinstance(evicted_prev, int) else None,
    }
    ob = Outbox(path)
    try:
        with ob.transaction() as db:
            for key, v in meta.items():
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, v))
            db.executemany(
                _INSERT_MESSAGE,
                [rows[s] for s in sorted(rows)],
            )
            db.executemany(
                "INSERT INTO receipts (code_hash, seq) VALUES (?, ?)", list(receipts.items())
            )
            db.executemany(
                "INSERT OR IGNORE INTO case_status (ref_seq, received, case_ref, status, note) "
                "VALUES (?, ?, ?, ?, ?)",
                statuses,
            )
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('recovered', ?)",
                (json.dumps(report, sort_keys=True),),
            )
        ob.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        ob.close()
    for suffix in ("", "-wal"):
        p = _side(path, suffix)
        if p.exists():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    return report


def _log_fields(report: dict[str, Any]) -> dict[str, Any]:
    lost, kept = report["lost"], report["salvaged"]
    return {
        "evidence": report["evidence"],
        "problems": report["problems"],
        "kept_messages": kept["messages"],
        "kept_pending": kept["pending"],
        "kept_receipts": kept["receipts"],
        "kept_case_status": kept["case_status"],
        "lost_pending_seqs": lost["pending_seqs"],
        "lost_pending_grievances": lost["pending_grievances"],
        "lost_acked_seqs": lost["acked_seqs"],
        "unreadable_seqs": lost["unreadable_seqs"],
        "lost_receipts": lost["receipts"],
        "lost_meta": lost["meta"],
        "next_seq": report["seq"]["next_seq"],
        "seq_from": report["seq"]["from"],
        "skipped_seqs": report["seq"]["skipped"],
        "chain": report["chain"],
    }


def recovered(outbox: Outbox) -> dict[str, Any] | None:
    """The report of the last recovery of this outbox (None if it never needed one)."""
    raw = outbox.meta("recovered")
    if not isinstance(raw, str):
        return None
    with contextlib.suppress(ValueError):
        value = json.loads(raw)
        if isinstance(value, dict):
            return value
    return None
