"""The outbox's SQLite schema, shared by the store (:mod:`vessel_agent.outbox`) and the salvage
of a damaged file (:mod:`vessel_agent.salvage`), which relies on the order of creation below:
on a new file the tables and indexes get root pages 2, 3, … in this order.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,          -- per-device sequence number, never reused
    parent INTEGER NOT NULL,          -- first seq of the crew message (fragments share it)
    kind INTEGER NOT NULL,            -- Kind
    priority INTEGER NOT NULL,        -- protocol.vessel.Priority
    created REAL NOT NULL,
    state INTEGER NOT NULL,           -- State
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    sent_at REAL,
    acked_at REAL,
    size INTEGER NOT NULL,
    encoded BLOB                      -- exact wire bytes (sealed); NULL once acked
);
CREATE INDEX IF NOT EXISTS messages_open ON messages (state, kind) WHERE state < 2;
CREATE INDEX IF NOT EXISTS messages_parent ON messages (parent);
CREATE TABLE IF NOT EXISTS receipts (
    code_hash BLOB PRIMARY KEY,       -- scrypt(receipt code, salt); the code itself is not kept
    seq INTEGER NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS case_status (
    ref_seq INTEGER NOT NULL,
    received REAL NOT NULL,
    case_ref TEXT NOT NULL,
    status INTEGER NOT NULL,
    note INTEGER NOT NULL,
    PRIMARY KEY (ref_seq, received, status)
) WITHOUT ROWID;
"""


#: Counts of rows whose values no agent writes (damage quick_check does not see).
SANITY = {
    "messages": "SELECT COUNT(*) FROM messages WHERE typeof(seq) != 'integer' "
    "OR typeof(parent) != 'integer' OR kind NOT IN (1, 2, 3) OR priority NOT IN (0, 1, 2) "
    "OR state NOT IN (0, 1, 2) OR typeof(attempts) != 'integer' "
    "OR typeof(created) NOT IN ('real', 'integer') OR typeof(next_try) NOT IN ('real', 'integer') "
    "OR typeof(sent_at) NOT IN ('real', 'integer', 'null') "
    "OR typeof(acked_at) NOT IN ('real', 'integer', 'null') OR typeof(size) != 'integer' "
    "OR typeof(encoded) NOT IN ('blob', 'null') OR length(encoded) != size "
    "OR (encoded IS NULL) != (state = 2)",
    "receipts": "SELECT COUNT(*) FROM receipts WHERE typeof(code_hash) != 'blob' "
    "OR typeof(seq) != 'integer'",
    "case_status": "SELECT COUNT(*) FROM case_status WHERE typeof(case_ref) != 'text' "
    "OR typeof(status) != 'integer' OR typeof(note) != 'integer' OR typeof(ref_seq) != 'integer'",
    "meta": "SELECT COUNT(*) FROM meta WHERE (key = 'next_seq' AND typeof(value) != 'integer') "
    "OR (key = 'chain' AND (typeof(value) != 'blob' OR length(value) != 8))",
}

#: The columns of ``messages`` in the order of :data:`SCHEMA` (the salvage copies whole rows).
MESSAGE_COLUMNS = (
    "seq, parent, kind, priority, created, state, attempts, next_try, sent_at, acked_at, size, "
    "encoded"
)
