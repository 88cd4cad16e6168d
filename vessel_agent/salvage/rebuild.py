"""Rebuilding a damaged outbox: the evidence copy, a fresh outbox from what the forensic read
found, the seq counter never lowered, and the report.

What is kept: unacknowledged sealed messages (ciphertext, checked to decode with their own seq),
acked crew rows, receipt hashes and case status notes, the meta values (seq counter, chain,
receipt salt, shore config and keys). If the seq counter or the chain value cannot be read, the
next seq is the highest seq seen anywhere + 1 + :data:`SEQ_MARGIN`, so a seq that may have gone
on air is never reused; the skipped seqs show up ashore as a gap, which also keeps the shore from
checking the restarted chain across it.

The report (:func:`recover` returns it; stored as meta ``recovered``, logged as
``outbox_recovered``, shown by ``flip vessel status``) has counts and seq ranges only — never
ciphertext, receipt hashes or text.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from protocol import chain
from protocol.limits import CHAIN_LEN, U32
from protocol.messages import LossReason
from protocol.seqranges import runs
from vessel_agent import lost
from vessel_agent.outbox import Kind, Outbox, State
from vessel_agent.outbox_schema import MESSAGE_COLUMNS
from vessel_agent.salvage import files
from vessel_agent.salvage.forensic import Found, Salvage, int_in

#: Seqs skipped after a recovery that lost the seq counter (or the chain value with it).
SEQ_MARGIN = 1024
#: At most this many seq ranges per list in the report.
MAX_RANGES = 32

_INSERT_MESSAGE = f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({','.join('?' * 12)})"  # noqa: S608


def recover(db: Path, *, now: float | None = None) -> dict[str, Any]:
    """Copy the damaged outbox aside, salvage it into a fresh one and swap that in.

    The caller holds the exclusive lock (:func:`open_outbox`). Returns the report.
    """
    moment = time.time() if now is None else now
    evidence = files.evidence_name(db, moment)
    for src, dst in files.pairs(db, evidence):
        shutil.copyfile(src, dst)
        files.fsync_file(dst)
    work = files.side(db, ".salvage")
    build = files.side(db, ".recovering-tmp")
    for p in (work, build):
        files.remove(p)
    for src, dst in files.pairs(db, work):
        shutil.copyfile(src, dst)
    try:
        found = Salvage(work).run()
        report = _build(build, found, evidence=evidence.name, now=moment)
    finally:
        files.remove(work)
    os.replace(build, files.recovering(db))
    files.fsync_dir(db.parent)
    files.swap(db)
    return report


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


def _build(path: Path, f: Found, *, evidence: str, now: float) -> dict[str, Any]:
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
    nxt = raw_next if isinstance(raw_next, int) and int_in(raw_next, 1, U32 + 1) else None
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
        p = files.side(path, suffix)
        if p.exists():
            files.fsync_file(p)
    return report


def log_fields(report: dict[str, Any]) -> dict[str, Any]:
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
