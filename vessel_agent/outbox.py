"""The durable outbox: sealed messages, seq/chain state, receipts and case status in SQLite.

Durability (docs/vessel-agent.md, "Outbox"): WAL journal with ``synchronous=FULL``, so a commit
is on stable storage when :meth:`Outbox.queue` returns. Every state transition of a message is
one transaction, and the seq counter and hash-chain value are written in the *same* transaction
as the messages that used them — after a ``kill -9`` or power cut either both exist or neither,
so a seq is never reused and the chain never skips. Several processes (the agent, ``flip vessel
submit``, the crew terminal) share the file; queueing takes SQLite's write lock up front
(``BEGIN IMMEDIATE``) and reads the seq counter inside it.

Only ciphertext is stored: crew content arrives already sealed by
:meth:`protocol.vessel.VesselSession.queue_crew`. Receipt codes are stored as scrypt hashes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from protocol.downlinks import CaseStatus
from protocol.messages import LossReason
from protocol.vessel import Outgoing, Priority, SeqState, VesselSession
from vessel_agent import lost
from vessel_agent.errors import (
    IllegalTransition,
    OutboxCorrupt,
    OutboxError,
    OutboxFull,
    SchemaMismatch,
)
from vessel_agent.outbox_schema import SANITY, SCHEMA, SCHEMA_VERSION

#: Grievances may use this much more than ``max_queue_bytes`` once routine reports are gone.
GRIEVANCE_RESERVE = 0.5


class Kind(IntEnum):
    """What a stored message is (the wire type is inside ``encoded``)."""

    CREW = 1
    HEARTBEAT = 2
    POSITION = 3


class State(IntEnum):
    """Durable states of one message (seq). Transitions: :data:`TRANSITIONS`."""

    QUEUED = 0  # sealed, persisted, never on air
    SENT = 1  # went on air in a session the gateway confirmed; awaiting a shore-signed ack
    ACKED = 2  # a shore-signed ack covers it; ciphertext dropped, row kept for the receipt


class Event(IntEnum):
    SESSION_OK = 1  # carried by a successful SBD session
    ACK = 2  # covered by a verified shore ack
    EVICT = 3  # storage full: routine report dropped unsent (never crew messages)


#: The one table of message transitions (docs/style.md §4); every write of a message's state
#: goes through it (:meth:`Outbox._apply`). ``None`` = the row is deleted; ``ACKED`` keeps a crew
#: row (its receipt) without ciphertext and deletes a routine one. ``ACKED`` is final: a later
#: event on an acked row changes nothing. A pair missing here is an :class:`IllegalTransition`.
TRANSITIONS: dict[tuple[State, Event], State | None] = {
    (State.QUEUED, Event.SESSION_OK): State.SENT,
    (State.SENT, Event.SESSION_OK): State.SENT,  # retransmission
    (State.QUEUED, Event.ACK): State.ACKED,  # e.g. delivered before a crash hid the send
    (State.SENT, Event.ACK): State.ACKED,
    (State.QUEUED, Event.EVICT): None,
    (State.SENT, Event.EVICT): None,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusNote:
    time: float
    case_ref: str
    status: int
    note: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptView:
    """What a receipt holder may see: their message's state and the shore's notes on it."""

    seq: int
    state: str  # "queued" | "sent" | "received"
    created: float
    statuses: tuple[StatusNote, ...] = ()


@dataclass(slots=True, kw_only=True)
class Stats:
    queued: int = 0
    sent: int = 0
    acked_kept: int = 0
    pending_bytes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    urgent_pending: int = 0
    evicted_total: int = 0
    db_bytes: int = 0
    max_queue_bytes: int = 0


class Outbox:
    """One connection to the outbox database (open one per process)."""

    def __init__(self, path: str | Path, *, max_queue_bytes: int = 2_000_000) -> None:
        self.path = Path(path)
        self.max_queue_bytes = max_queue_bytes
        try:
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            # Freed pages are zeroed, so deleted ciphertext does not linger in the file.
            self.db.execute("PRAGMA secure_delete=ON")
            # A damaged page (bad flash, a torn write past fsync) is found here, at start,
            # not halfway through a session: quick_check reads every page (ms for 2 MB).
            problems = [row[0] for row in self.db.execute("PRAGMA quick_check(20)")]
            if problems == ["ok"]:
                problems = self._impossible_rows()
            if problems != ["ok"]:
                raise OutboxCorrupt(
                    f"outbox {self.path} is damaged ({len(problems)} problems, first: "
                    f"{problems[0][:160]}); keep a copy of the file and restore or salvage it "
                    "before the agent runs again"
                )
            self.db.executescript(SCHEMA)  # idempotent; executescript commits on its own
            with self.transaction():
                version = self._meta("schema_version")
                if version is None:
                    self._set("schema_version", SCHEMA_VERSION)
                elif version != SCHEMA_VERSION:
                    raise SchemaMismatch(
                        f"outbox schema {version}, this agent reads {SCHEMA_VERSION}"
                    )
        except BaseException as exc:
            # Closed here, not by the garbage collector later: a recovery may have replaced
            # the file and its WAL by then (vessel_agent/salvage/).
            with contextlib.suppress(sqlite3.Error, AttributeError):
                self.db.close()
            if isinstance(exc, UnicodeDecodeError):
                # SQLite's message quoted damaged bytes (say, a garbled name in the schema
                # page) and Python could not decode it: the file is damaged.
                raise OutboxCorrupt(f"outbox {self.path} is damaged: {exc}") from exc
            if not isinstance(exc, sqlite3.Error):
                raise
            if "malformed" in str(exc) or "not a database" in str(exc):
                raise OutboxCorrupt(f"outbox {self.path} is damaged: {exc}") from exc
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc
        self._hwm = 0  # highest seq this process has restored into a session

    def _impossible_rows(self) -> list[str]:
        """Values no version of the agent writes: damage inside a record that kept the page
        well-formed (quick_check reads structure, not types). One scan, ms for 10,000 rows."""
        names = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
        if "messages" not in names:
            return ["ok"]  # a new file: the schema is created next
        found = []
        for table, sql in SANITY.items():
            n = self.db.execute(sql).fetchone()[0]
            if n:
                found.append(f"{n} rows of impossible type or value in {table}")
        return found or ["ok"]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on any exception)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error:
            # e.g. SQLITE_FULL / SQLITE_IOERR on a full disk: the commit record was not
            # written, so nothing of this transaction is in the file; end it on our side too.
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    # --- meta ----------------------------------------------------------------------------------

    def _meta(self, key: str) -> object:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set(self, key: str, value: object) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta(self, key: str, default: object = None) -> object:
        value = self._meta(key)
        return default if value is None else value

    def set_meta(self, values: dict[str, object]) -> None:
        """Write several meta values in one transaction."""
        with self.transaction():
            for key, value in values.items():
                self._set(key, value)

    def salt(self, rng: Callable[[int], bytes]) -> bytes:
        """The device's receipt-hash salt (created on first use from ``rng``)."""
        value = self._meta("receipt_salt")
        if isinstance(value, bytes):
            return value
        with self.transaction():
            value = self._meta("receipt_salt")
            if not isinstance(value, bytes):
                value = rng(16)
                self._set("receipt_salt", value)
        return value

    def seq_state(self) -> SeqState:
        """The session's seq counter and chain value as last committed."""
        nxt = self._meta("next_seq")
        chain = self._meta("chain")
        default = SeqState()
        return SeqState(
            max(nxt, 1) if isinstance(nxt, int) else default.next_seq,
            chain if isinstance(chain, bytes) else default.chain_value,
        )

    def int_meta(self, key: str, default: int) -> int:
        """An integer meta value (``default`` when unset or not an integer)."""
        value = self._meta(key)
        return value if isinstance(value, int) else default

    # --- queueing ------------------------------------------------------------------------------

    def queue(
        self,
        session: VesselSession,
        build: Callable[[VesselSession], list[Outgoing]],
        kind: Kind,
        *,
        receipt_hash: bytes | None = None,
    ) -> list[Outgoing]:
        """Assign seqs, build and persist new messages in one transaction.

        Inside the write lock: the session restores the committed seq counter and chain
        (another process may have queued since) and reloads rows others added, then ``build``
        queues into it, and the items it returns are committed with the session's
        :meth:`~protocol.vessel.VesselSession.snapshot` and the receipt hash. On any failure
        nothing is stored and the session is restored to the committed state.

        Raises:
            OutboxFull: no room even after evicting routine reports.
            OutboxError: the database failed.
        """
        items: list[Outgoing] = []
        stored = SeqState()
        try:
            with self.transaction():
                stored = self.seq_state()
                session.restore(stored)
                self._sync(session)
                items = build(session)
                size = sum(len(i.encoded) for i in items)
                self._make_room(size, kind)
                parent = items[0].seq
                self.db.executemany(
                    "INSERT INTO messages (seq, parent, kind, priority, created, state, attempts,"
                    " next_try, size, encoded) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
                    [
                        (
                            i.seq,
                            parent,
                            int(kind),
                            int(i.priority),
                            i.created,
                            i.next_try,
                            len(i.encoded),
                            i.encoded,
                        )
                        for i in items
                    ],
                )
                if receipt_hash is not None:
                    self.db.execute(
                        "INSERT INTO receipts (code_hash, seq) VALUES (?, ?)",
                        (receipt_hash, parent),
                    )
                state = session.snapshot()
                self._set("next_seq", state.next_seq)
                self._set("chain", state.chain_value)
        except BaseException as exc:
            session.restore(stored)
            if isinstance(exc, sqlite3.Error):
                raise OutboxError(
                    f"could not store the message ({exc}; is the disk full?): nothing was "
                    "stored, try again later"
                ) from exc
            raise
        self._hwm = max(self._hwm, state.next_seq - 1)
        return items

    def _make_room(self, size: int, kind: Kind) -> None:
        """Storage policy: evict routine reports, heartbeats first, oldest first; never crew."""
        pending = self.pending_bytes()
        limit = self.max_queue_bytes
        if pending + size <= limit:
            return
        victims = self.db.execute(
            "SELECT seq, size FROM messages WHERE state < 2 AND kind != ? "
            "ORDER BY kind = ? DESC, created, seq",
            (int(Kind.CREW), int(Kind.HEARTBEAT)),
        ).fetchall()
        gone: list[int] = []
        for seq, vsize in victims:
            if pending + size <= limit:
                break
            gone.append(seq)
            pending -= vsize
        if gone:
            self._apply(gone, Event.EVICT)
            total = self._meta("evicted_total")
            self._set("evicted_total", (total if isinstance(total, int) else 0) + len(gone))
            lost.record(self.db, gone, LossReason.EVICTED)  # declared in the next heartbeats
        if pending + size <= limit:
            return
        if kind is Kind.CREW and pending + size <= limit * (1 + GRIEVANCE_RESERVE):
            return
        raise OutboxFull(f"outbox full: {pending} of {limit} bytes hold unacknowledged grievances")

    def pending_bytes(self) -> int:
        row = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM messages WHERE state < 2")
        return int(row.fetchone()[0])

    # --- restoring -----------------------------------------------------------------------------

    def load_pending(self, after: int = 0) -> list[Outgoing]:
        """Unacknowledged messages with seq > ``after``, as the session keeps them."""
        rows = self.db.execute(
            "SELECT seq, encoded, priority, created, attempts, next_try FROM messages "
            "WHERE state < 2 AND seq > ? ORDER BY seq",
            (after,),
        )
        return [
            Outgoing(seq=s, encoded=e, priority=Priority(p), created=c, attempts=a, next_try=n)
            for s, e, p, c, a, n in rows
        ]

    def _sync(self, session: VesselSession) -> None:
        items = self.load_pending(self._hwm)
        session.reload(items)
        self._hwm = max(self._hwm, self.seq_state().next_seq - 1)

    def sync(self, session: VesselSession, *, full: bool = False) -> None:
        """Bring the session's in-memory outbox in line with the database.

        New rows (queued by other processes) are restored; with ``full``, rows that left the
        database (evicted by another process, acked) leave the session too.
        """
        self._sync(session)
        if full:
            open_seqs = {r[0] for r in self.db.execute("SELECT seq FROM messages WHERE state < 2")}
            session.forget([s for s in session.outbox if s not in open_seqs])

    # --- transitions ---------------------------------------------------------------------------

    def _apply(
        self, seqs: Sequence[int], event: Event, now: float = 0.0, sent: Sequence[Outgoing] = ()
    ) -> list[int]:
        """Move the rows ``seqs`` by ``event`` as :data:`TRANSITIONS` says and write the result;
        returns the seqs that changed (acked rows are final and never change). ``sent``: the
        items of a ``SESSION_OK``, whose attempts and retransmission timers are stored.

        Raises:
            IllegalTransition: a row's state has no entry for ``event`` (the caller's
                transaction then stores nothing).
        """
        if not seqs:
            return []
        rows = self.db.execute(
            f"SELECT seq, state, kind FROM messages WHERE seq IN ({','.join('?' * len(seqs))})",  # noqa: S608
            list(seqs),
        ).fetchall()
        timers = {i.seq: i for i in sent}
        changed: list[int] = []
        for seq, state, kind in rows:
            old = State(state)
            if old is State.ACKED:
                continue
            if (old, event) not in TRANSITIONS:
                raise IllegalTransition(
                    f"message {seq}: no transition from {old.name} on {event.name}"
                )
            new = TRANSITIONS[(old, event)]
            changed.append(seq)
            if new is None or (new is State.ACKED and kind != Kind.CREW):
                self.db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            elif new is State.ACKED:
                self.db.execute(
                    "UPDATE messages SET state = ?, encoded = NULL, acked_at = ? WHERE seq = ?",
                    (int(new), now, seq),
                )
            else:
                item = timers[seq]
                self.db.execute(
                    "UPDATE messages SET state = ?, attempts = ?, next_try = ?, sent_at = ? "
                    "WHERE seq = ?",
                    (int(new), item.attempts, item.next_try, now, seq),
                )
        return changed

    def mark_sent(self, items: Sequence[Outgoing], now: float) -> None:
        """After a successful session: these went on air (attempts, retransmission timers)."""
        if not items:
            return
        with self.transaction():
            self._apply([i.seq for i in items], Event.SESSION_OK, now, items)

    def mark_acked(self, seqs: Sequence[int], now: float) -> list[int]:
        """A verified shore ack covers ``seqs``: crew rows keep their receipt, lose ciphertext;
        routine rows are deleted. Returns the seqs that changed."""
        if not seqs:
            return []
        with self.transaction():
            changed = self._apply(list(seqs), Event.ACK, now)
            lost.acked(self.db, seqs)  # the seqs an acked heartbeat declared reached shore
        return changed

    # --- downlink state ------------------------------------------------------------------------

    def store_status(self, status: CaseStatus, now: float) -> bool:
        """Keep a case update for the receipt holder of ``ref_seq`` (False if unknown seq)."""
        with self.transaction():
            known = self.db.execute(
                "SELECT 1 FROM messages WHERE parent = ? AND kind = ? LIMIT 1",
                (status.ref_seq, int(Kind.CREW)),
            ).fetchone()
            if known is None:
                return False
            self.db.execute(
                "INSERT OR IGNORE INTO case_status (ref_seq, received, case_ref, status, note) "
                "VALUES (?, ?, ?, ?, ?)",
                (status.ref_seq, now, status.case_ref, status.status, status.note),
            )
        return True

    def lookup(self, code_hash: bytes) -> ReceiptView | None:
        """The message a receipt hash names, or None (read-only)."""
        row = self.db.execute("SELECT seq FROM receipts WHERE code_hash = ?", (code_hash,))
        hit = row.fetchone()
        if hit is None:
            return None
        seq = int(hit[0])
        parts = self.db.execute(
            "SELECT state, created FROM messages WHERE parent = ?", (seq,)
        ).fetchall()
        if not parts:
            return None
        states = {State(s) for s, _ in parts}
        if states == {State.ACKED}:
            state = "received"
        elif State.SENT in states or State.ACKED in states:
            state = "sent"
        else:
            state = "queued"
        notes = tuple(
            StatusNote(time=t, case_ref=c, status=s, note=n)
            for t, c, s, n in self.db.execute(
                "SELECT received, case_ref, status, note FROM case_status WHERE ref_seq = ? "
                "ORDER BY received, status",
                (seq,),
            )
        )
        return ReceiptView(seq=seq, state=state, created=min(c for _, c in parts), statuses=notes)

    def purge(self, now: float, retention_s: float) -> int:
        """Forget acked crew rows, their receipts and notes after the retention period."""
        cutoff = now - retention_s
        with self.transaction():
            old = [
                r[0]
                for r in self.db.execute(
                    "SELECT parent FROM messages WHERE kind = ? GROUP BY parent "
                    "HAVING MIN(state) = 2 AND MAX(acked_at) < ?",
                    (int(Kind.CREW), cutoff),
                )
            ]
            for parent in old:
                self.db.execute("DELETE FROM messages WHERE parent = ?", (parent,))
                self.db.execute("DELETE FROM receipts WHERE seq = ?", (parent,))
                self.db.execute("DELETE FROM case_status WHERE ref_seq = ?", (parent,))
        return len(old)

    # --- figures -------------------------------------------------------------------------------

    def stats(self) -> Stats:
        st = Stats(max_queue_bytes=self.max_queue_bytes)
        for state, kind, n, size in self.db.execute(
            "SELECT state, kind, COUNT(*), COALESCE(SUM(size), 0) FROM messages "
            "GROUP BY state, kind"
        ):
            name = Kind(kind).name.lower()
            if state == State.ACKED:
                st.acked_kept += n
                continue
            if state == State.QUEUED:
                st.queued += n
            else:
                st.sent += n
            st.pending_bytes += size
            st.by_kind[name] = st.by_kind.get(name, 0) + n
        row = self.db.execute(
            "SELECT COUNT(*) FROM messages WHERE state < 2 AND priority = ?",
            (int(Priority.URGENT),),
        ).fetchone()
        st.urgent_pending = int(row[0])
        total = self._meta("evicted_total")
        st.evicted_total = total if isinstance(total, int) else 0
        st.db_bytes = sum(
            p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists()
        )
        return st
