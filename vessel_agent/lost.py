"""Seqs this vessel will never send, declared to the shore in heartbeats (element 6).

An evicted routine report (storage full), a row a salvage could not read before it went on air,
and the seqs a salvage skipped when the counter was lost never reach shore; declared, they are
labelled ashore instead of reading like suppression (docs/vessel-agent.md, "Seqs declared
lost"; docs/wire-format.md §3). Three ``meta`` values, written in the transaction of the change
that caused them:

``lost_ranges``
    JSON ``[[first, last, reason], …]``, ascending and disjoint; adjacent ranges of one reason are
    merged. A seq is declared once: the first reason recorded for it stands.
``lost_unlisted``
    seqs declared beyond :data:`MAX_HELD` ranges: counted in every heartbeat's ``count`` but
    never itemised (the newest ranges go first), so the meta value stays bounded.
``lost_carried``
    JSON ``{"<heartbeat seq>": {"ranges": […], "unlisted": n}}``: what each queued heartbeat
    declared. When a shore-signed ack covers that heartbeat, exactly that is dropped; what was
    declared since stays for the next heartbeat.

A heartbeat lists the oldest :data:`~protocol.messages.MAX_LOST_RANGES` (8) ranges; ``count``
is every seq held (listed or not, plus ``lost_unlisted``), so it stays exact. Later ranges are
listed once the earlier ones are acknowledged. Values damaged on disk read as empty: the shore
then shows those seqs as plain gaps, the outcome without this feature.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from protocol.limits import MAX_LOST_RANGES, U32
from protocol.messages import LossReason, LostRange
from protocol.seqranges import minus, runs

#: Ranges kept itemised in ``meta`` (a few KB of JSON); beyond, seqs are only counted.
MAX_HELD = 256

Range = tuple[int, int, int]  # first, last, reason


# --- range arithmetic (pure) -------------------------------------------------------------------


def _normal(ranges: Iterable[Range]) -> list[Range]:
    out: list[Range] = []
    for a, b, r in sorted(ranges):
        if out and out[-1][2] == r and a == out[-1][1] + 1:
            out[-1] = (out[-1][0], b, r)
        else:
            out.append((a, b, r))
    return out


def add(held: list[Range], new: Iterable[tuple[int, int]], reason: int) -> list[Range]:
    """``held`` with the seqs of ``new`` declared for ``reason`` (seqs held already keep theirs)."""
    out = list(held)
    for a, b in new:
        out.extend((lo, hi, reason) for lo, hi in minus(a, b, out))
    return _normal(out)


def remove(held: list[Range], gone: Iterable[Range]) -> list[Range]:
    """``held`` without the seqs of ``gone`` (matched with their reason)."""
    out: list[Range] = []
    gone = list(gone)
    for a, b, r in held:
        same = [g for g in gone if g[2] == r]
        out.extend((lo, hi, r) for lo, hi in minus(a, b, same))
    return _normal(out)


def bound(held: list[Range], unlisted: int) -> tuple[list[Range], int]:
    """At most :data:`MAX_HELD` ranges; the newest beyond go into the unlisted count."""
    extra = held[MAX_HELD:]
    return held[:MAX_HELD], unlisted + sum(b - a + 1 for a, b, _ in extra)


def declaration(held: list[Range], unlisted: int) -> tuple[int, list[Range]]:
    """What one heartbeat says: (count of every seq declared, the oldest 8 ranges)."""
    count = unlisted + sum(b - a + 1 for a, b, _ in held)
    return min(count, U32), held[:MAX_LOST_RANGES]


def parse(raw: object) -> list[Range]:
    """``lost_ranges`` as stored; anything not well-formed reads as empty (see module doc)."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
        ranges = [(int(a), int(b), int(r)) for a, b, r in value]  # type: ignore[union-attr]
    except (ValueError, TypeError):
        return []
    ok = all(1 <= a <= b <= U32 and 1 <= r <= 0xFF for a, b, r in ranges)
    ok = ok and all(p[1] < q[0] for p, q in itertools.pairwise(ranges))
    return ranges if ok else []


# --- in the outbox (inside the caller's transaction) -------------------------------------------


def _get(db: sqlite3.Connection, key: str) -> object:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _set(db: sqlite3.Connection, key: str, value: object) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _unlisted(raw: object) -> int:
    return raw if isinstance(raw, int) and 0 <= raw <= U32 else 0


def _carried(db: sqlite3.Connection) -> dict[str, Any]:
    raw = _get(db, "lost_carried")
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def held(db: sqlite3.Connection) -> tuple[list[Range], int]:
    """(ranges held, seqs counted beyond them)."""
    return from_meta({k: _get(db, k) for k in ("lost_ranges", "lost_unlisted")})


def from_meta(values: Mapping[str, object]) -> tuple[list[Range], int]:
    """(ranges held, seqs counted beyond them) from ``meta`` values as read."""
    return parse(values.get("lost_ranges")), _unlisted(values.get("lost_unlisted"))


def meta_values(held_ranges: list[Range], unlisted: int) -> dict[str, object]:
    """The meta values for a new held state (bounded)."""
    ranges, unlisted = bound(held_ranges, unlisted)
    return {"lost_ranges": json.dumps(ranges), "lost_unlisted": unlisted}


def record(db: sqlite3.Connection, seqs: Iterable[int], reason: LossReason) -> None:
    """Declare ``seqs`` lost for ``reason`` (evictions call this in their transaction)."""
    ranges, unlisted = held(db)
    for key, value in meta_values(add(ranges, runs(seqs), reason), unlisted).items():
        _set(db, key, value)


def declare(db: sqlite3.Connection, heartbeat_seq: int) -> tuple[int, list[LostRange]]:
    """What the heartbeat about to take ``heartbeat_seq`` declares, remembered for its ack.

    Entries of heartbeats no longer pending (evicted, acked, salvaged away) are forgotten here.
    """
    ranges, unlisted = held(db)
    # Only seqs below the heartbeat's own can be declared (always so, unless meta was damaged).
    ranges = [(a, min(b, heartbeat_seq - 1), r) for a, b, r in ranges if a < heartbeat_seq]
    count, listed = declaration(ranges, unlisted)
    carried = _carried(db)
    seqs = [int(k) for k in carried if k.isdigit()]
    pending: set[str] = set()
    if seqs:
        marks = ",".join("?" * len(seqs))
        sql = f"SELECT seq FROM messages WHERE state < 2 AND seq IN ({marks})"  # noqa: S608
        pending = {str(r[0]) for r in db.execute(sql, seqs)}
    carried = {k: v for k, v in carried.items() if k in pending}
    if count:
        carried[str(heartbeat_seq)] = {"ranges": listed, "unlisted": unlisted}
    _set(db, "lost_carried", json.dumps(carried, sort_keys=True))
    return count, [LostRange(first=a, last=b, reason=r) for a, b, r in listed]


def acked(db: sqlite3.Connection, seqs: Iterable[int]) -> bool:
    """A shore-signed ack covers ``seqs``: drop what the heartbeats among them declared."""
    carried = _carried(db)
    done = [carried.pop(str(s)) for s in seqs if str(s) in carried]
    if not done:
        return False
    ranges, unlisted = held(db)
    for entry in done:
        try:
            gone = [(int(a), int(b), int(r)) for a, b, r in entry["ranges"]]
            unlisted -= min(unlisted, _unlisted(entry["unlisted"]))
        except (KeyError, TypeError, ValueError):
            continue
        ranges = remove(ranges, gone)
    for key, value in meta_values(ranges, unlisted).items():
        _set(db, key, value)
    _set(db, "lost_carried", json.dumps(carried, sort_keys=True))
    return True
