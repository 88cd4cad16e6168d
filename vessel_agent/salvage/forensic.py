"""The forensic read of a damaged outbox: every row still readable, and which seqs existed.

Works on a copy (:func:`vessel_agent.salvage.rebuild.recover` makes it): table by table, row by
row — forward and backward scans, then every seq probed on its own by rowid, so one unreadable
page costs only the rows on it; the two message indexes say which seqs existed even where the
table page is gone; if the schema page itself is unreadable it is replaced by a fresh one of the
same schema (root pages are fixed by the order of creation). Every value is checked before it
is kept (a damaged row is counted, not copied).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from protocol.errors import ProtocolError
from protocol.limits import U32
from protocol.messages import decode_message, seq_of
from vessel_agent.outbox import Kind, State
from vessel_agent.outbox_schema import MESSAGE_COLUMNS, SCHEMA
from vessel_agent.receipt import HASH_LEN
from vessel_agent.salvage import files

#: What a read of a damaged file raises: SQLite's error, or a UnicodeDecodeError when that error's
#: message quotes damaged bytes (a garbled name on the schema page) Python cannot decode.
UNREADABLE = (sqlite3.DatabaseError, UnicodeDecodeError)
SELECT_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM messages"  # noqa: S608 — constants only
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


class Found:
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


class Salvage:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.found = Found()

    def run(self) -> Found:
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
        with contextlib.suppress(*UNREADABLE):
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one file to read (and repair)
        with contextlib.suppress(*UNREADABLE):
            con.execute("PRAGMA writable_schema=ON")  # read past a schema entry that fails
        return con

    def _problems(self, con: sqlite3.Connection) -> None:
        try:
            rows = [r[0] for r in con.execute("PRAGMA quick_check(1000)")]
            self.found.problems = 0 if rows == ["ok"] else len(rows)
        except UNREADABLE:
            self.found.problems = -1  # not even the check could run

    @staticmethod
    def _schema_ok(con: sqlite3.Connection) -> bool:
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        except UNREADABLE:
            return False
        return {"meta", "messages", "receipts", "case_status"} <= names

    def _replace_schema_page(self) -> None:
        """Page 1 (header + schema) is unreadable: write a fresh page 1 of the same schema.

        Tables and indexes got root pages 2, 3, … in the order
        :data:`~vessel_agent.outbox_schema.SCHEMA` creates them on a new file, so the fresh
        schema page points at the old b-trees.
        """
        raw = self.work.read_bytes()
        size = int.from_bytes(raw[16:18], "big") if len(raw) >= 18 else 0
        size = 65536 if size == 1 else size
        if size < 512 or size & (size - 1) or size > 65536:
            size = 4096
        tmpl = files.side(self.work, ".template")
        files.remove(tmpl)
        try:
            t = sqlite3.connect(tmpl, isolation_level=None)
            t.execute(f"PRAGMA page_size={size}")
            t.execute("PRAGMA journal_mode=WAL")
            t.executescript(SCHEMA)
            t.close()
            page1 = bytearray(tmpl.read_bytes()[:size])
        finally:
            files.remove(tmpl)
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
        except UNREADABLE:
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
                if int_in(seq, 1, U32) and state in (0, 1) and kind in (1, 2, 3):
                    f.open_index[seq] = (state, kind)
            rows, done = self._read(con, parent_sql)
            ok = ok and done
            for seq, parent in rows:
                if int_in(seq, 1, U32) and int_in(parent, 1, seq):
                    f.parent_index[seq] = parent
        f.complete["indexes"] = ok

    def _messages(self, con: sqlite3.Connection) -> None:
        f = self.found
        hi_rows, _ = self._read(con, SELECT_MESSAGES + " ORDER BY seq DESC")
        for row in hi_rows:
            self._message(row)
        nxt = f.meta.get("next_seq")
        hi = max(
            [
                nxt - 1 if isinstance(nxt, int) and int_in(nxt, 1, U32 + 1) else 0,
                *f.messages,
                *f.open_index,
                *f.parent_index,
            ]
        )
        # Forward from seq 1: a failing read costs one seq, then the scan resumes after it.
        seq, ok = 1, True
        while seq <= hi:
            try:
                for row in con.execute(SELECT_MESSAGES + " WHERE seq >= ? ORDER BY seq", (seq,)):
                    if not isinstance(row[0], int) or row[0] < seq:
                        raise sqlite3.DatabaseError("rows out of order")
                    self._message(tuple(row))
                    seq = row[0] + 1
                break
            except UNREADABLE:
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
            if isinstance(code_hash, bytes) and len(code_hash) == HASH_LEN and int_in(seq, 1, U32):
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
                int_in(ref, 1, U32)
                and isinstance(received, (int, float))
                and isinstance(case_ref, str)
                and len(case_ref) <= 16
                and int_in(status, 0, 0xFF)
                and int_in(note, 0, 0xFFFF)
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


def int_in(value: object, lo: int, hi: int) -> bool:
    """An ``int`` (not a bool, not a float) within [lo, hi]."""
    return type(value) is int and lo <= value <= hi


def _crew_parents(f: Found) -> list[int]:
    parents = {r[1] for r in f.messages.values() if r[2] == Kind.CREW}
    parents |= {p for s, p in f.parent_index.items() if f.open_index.get(s, (0, 1))[1] == 1}
    return sorted(parents)


def _valid_message(row: tuple[Any, ...]) -> bool:
    seq, parent, kind, prio, created, state, attempts, next_try, sent, acked, size, enc = row
    if not (int_in(seq, 1, U32) and int_in(parent, 1, seq) and kind in (1, 2, 3)):
        return False
    if not (prio in (0, 1, 2) and state in (0, 1, 2) and int_in(attempts, 0, 1 << 31)):
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
