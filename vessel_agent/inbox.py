"""Messages from shore to a receipt holder, kept sealed in the outbox database.

Tables (created beside the outbox's own, in the same file and WAL — so the same durability and
the same ``secure_delete``; nothing here is plaintext):

* ``reply_keys``: per grievance seq, the salt and settings of a reply key derived from the
  receipt code (:mod:`vessel_agent.replykey`), or NULL salt when the crew member's own device
  holds the key (the crew app). Never a private key.
* ``shore_parts``: parts of a :class:`~protocol.messages.ShoreMessage` until it is whole.
* ``shore_messages``: whole sealed texts, by the shore's message id and the grievance seq.

It also keeps the persistent receipt-guess throttle (:class:`receipt.Throttle` state in
``meta``), so wrong codes are limited across processes (each ``flip vessel status --receipt``
is a new process), not only inside one terminal.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass

from protocol import conversation
from protocol.downlinks import ShoreMessage
from protocol.errors import Malformed
from vessel_agent import replykey
from vessel_agent.errors import LookupLocked
from vessel_agent.outbox import Kind, Outbox
from vessel_agent.receipt import SCRYPT_N, Throttle

SCHEMA = """
CREATE TABLE IF NOT EXISTS reply_keys (
    seq INTEGER PRIMARY KEY,          -- the grievance (its receipt names it)
    salt BLOB,                        -- HKDF salt; NULL: the crew member's device holds the key
    kdf TEXT                          -- JSON [name, scrypt N] of the derivation
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shore_parts (
    msg_id INTEGER NOT NULL,
    part INTEGER NOT NULL,
    ref_seq INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    chunk BLOB NOT NULL,              -- a piece of ciphertext
    received REAL NOT NULL,
    PRIMARY KEY (msg_id, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shore_messages (
    msg_id INTEGER PRIMARY KEY,       -- the shore's id, bound into the seal
    ref_seq INTEGER NOT NULL,
    sealed BLOB NOT NULL,             -- HPKE to the grievance's reply key
    received REAL NOT NULL
);
"""

THROTTLE_KEY = "receipt_throttle"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    """How the reply key of a grievance is had: derived (salt, scrypt N) or held elsewhere."""

    salt: bytes | None
    n: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sealed:
    msg_id: int
    ref_seq: int
    sealed: bytes
    received: float


def ensure(ob: Outbox) -> None:
    ob.db.executescript(SCHEMA)


def remember_key(db: sqlite3.Connection, seq: int, salt: bytes | None, n: int = SCRYPT_N) -> None:
    """Inside the submit's transaction: how to re-make the reply key of grievance ``seq``."""
    kdf = None if salt is None else json.dumps([replykey.KDF, n])
    db.execute("INSERT INTO reply_keys (seq, salt, kdf) VALUES (?, ?, ?)", (seq, salt, kdf))


def key_record(ob: Outbox, seq: int) -> KeyRecord | None:
    """None: the grievance has no reply key (submitted before replies existed)."""
    row = ob.db.execute("SELECT salt, kdf FROM reply_keys WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        return None
    if row[0] is None:
        return KeyRecord(salt=None, n=None)
    name, n = json.loads(row[1])
    if name != replykey.KDF:
        return KeyRecord(salt=None, n=None)  # a derivation this agent does not know: sealed
    return KeyRecord(salt=bytes(row[0]), n=int(n))


def store_part(ob: Outbox, part: ShoreMessage, now: float) -> conversation.Whole | None:
    """Keep one part; the whole sealed text when this part completed it (once per message).

    A part for a seq that is no grievance of this device with a reply key is dropped (None).
    Part 0 of a message already whole returns it again: the shore sent it anew because it did
    not hear it was delivered, so the caller reports it again.

    Raises:
        Malformed: parts of one id that disagree (all parts of that id are dropped; the shore
            will send the message again if it is real).
    """
    with ob.transaction() as db:
        known = db.execute("SELECT 1 FROM reply_keys WHERE seq = ?", (part.ref_seq,)).fetchone()
        done = db.execute(
            "SELECT 1 FROM shore_messages WHERE msg_id = ?", (part.msg_id,)
        ).fetchone()
        if known is None:
            return None
        if done is not None:
            if part.part != 0:
                return None
            return conversation.Whole(ref_seq=part.ref_seq, msg_id=part.msg_id, sealed=b"")
        db.execute(
            "INSERT OR IGNORE INTO shore_parts (msg_id, part, ref_seq, parts, chunk, received) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (part.msg_id, part.part, part.ref_seq, part.parts, part.chunk, now),
        )
        rows = db.execute(
            "SELECT ref_seq, part, parts, chunk FROM shore_parts WHERE msg_id = ?",
            (part.msg_id,),
        ).fetchall()
        held = [
            ShoreMessage(ref_seq=r, msg_id=part.msg_id, part=i, parts=n, chunk=bytes(c))
            for r, i, n, c in rows
        ]
        try:
            whole = conversation.join(held)
        except Malformed:
            db.execute("DELETE FROM shore_parts WHERE msg_id = ?", (part.msg_id,))
            raise
        if whole is None:
            return None
        db.execute("DELETE FROM shore_parts WHERE msg_id = ?", (part.msg_id,))
        db.execute(
            "INSERT INTO shore_messages (msg_id, ref_seq, sealed, received) VALUES (?, ?, ?, ?)",
            (whole.msg_id, whole.ref_seq, whole.sealed, now),
        )
    return whole


def sealed_for(ob: Outbox, ref_seq: int) -> list[Sealed]:
    """Whole sealed texts about grievance ``ref_seq``, oldest first."""
    return [
        Sealed(msg_id=i, ref_seq=ref_seq, sealed=bytes(s), received=t)
        for i, s, t in ob.db.execute(
            "SELECT msg_id, sealed, received FROM shore_messages WHERE ref_seq = ? "
            "ORDER BY received, msg_id",
            (ref_seq,),
        )
    ]


def purge(ob: Outbox) -> None:
    """Forget keys and texts of grievances the outbox no longer knows (after its retention)."""
    with ob.transaction() as db:
        for table, col in (
            ("reply_keys", "seq"),
            ("shore_messages", "ref_seq"),
            ("shore_parts", "ref_seq"),
        ):
            db.execute(
                f"DELETE FROM {table} WHERE {col} NOT IN "  # noqa: S608 — fixed names
                f"(SELECT parent FROM messages WHERE kind = {int(Kind.CREW)})"
            )


# --- the receipt-guess throttle, shared by every process --------------------------------------


def _throttle(ob: Outbox) -> Throttle:
    t = Throttle()
    raw = ob.meta(THROTTLE_KEY)
    if isinstance(raw, str):
        with contextlib.suppress(ValueError, TypeError):
            t.failures, t.until = json.loads(raw)
    return t


def check_guess(ob: Outbox, now: float) -> None:
    """Raises :class:`LookupLocked` while too many wrong codes were tried."""
    _throttle(ob).check(now)


def record_guess(ob: Outbox, ok: bool, now: float) -> None:
    t = _throttle(ob)
    t.record(ok, now)
    ob.set_meta({THROTTLE_KEY: json.dumps([t.failures, t.until])})


__all__ = [
    "KeyRecord",
    "LookupLocked",
    "Sealed",
    "check_guess",
    "ensure",
    "key_record",
    "purge",
    "record_guess",
    "remember_key",
    "sealed_for",
    "store_part",
]
