"""The files of a recovery next to ``outbox.db``: the evidence copy, the working copy, the
rebuilt outbox (``.recovering``) and the swap that puts it in place."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def side(db: Path, suffix: str) -> Path:
    """``<db><suffix>`` in the same directory."""
    return db.with_name(db.name + suffix)


def recovering(db: Path) -> Path:
    """The finished fresh outbox waiting to be swapped in."""
    return side(db, ".recovering")


def fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(p: Path) -> None:
    with open(p, "rb") as fh:
        os.fsync(fh.fileno())


def swap(db: Path) -> None:
    """Put the finished ``.recovering`` file in place of the damaged one and its WAL."""
    for suffix in ("-wal", "-shm"):  # the evidence copy already holds them
        with contextlib.suppress(FileNotFoundError):
            side(db, suffix).unlink()
    os.replace(recovering(db), db)
    fsync_dir(db.parent)


def pairs(db: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(source, copy) for the database file and its WAL (if it has one) to copy to ``dst``."""
    out = [(db, dst)]
    wal = side(db, "-wal")
    if wal.exists() and wal.stat().st_size:
        out.append((wal, side(dst, "-wal")))
    return out


def remove(p: Path) -> None:
    """Delete a database file and its WAL, shared-memory and journal files (where present)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            side(p, suffix).unlink()


def evidence_name(db: Path, moment: float) -> Path:
    """``outbox.db.corrupt-<UTC time>[-n]``: a name no earlier evidence copy has."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))
    candidate = side(db, f".corrupt-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = side(db, f".corrupt-{stamp}-{n}")
    return candidate
