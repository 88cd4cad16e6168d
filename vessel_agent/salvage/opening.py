"""Opening the outbox: every process goes through :func:`open_outbox`, which salvages a
damaged file before handing it out.

A shared ``flock`` on ``<db>.lock`` is held while a process has the outbox open; the salvage
takes it exclusively, so a file another process is writing is never swapped under it. A crash
at any step of a salvage either redoes it from the untouched damaged file or finishes the swap
(the ``.recovering`` file is complete before it gets that name).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vessel_agent.errors import OutboxCorrupt
from vessel_agent.outbox import Outbox
from vessel_agent.salvage import files
from vessel_agent.salvage.rebuild import log_fields, recover

#: Seconds to wait for other processes to close the outbox before recovering.
LOCK_WAIT_S = 10.0

LogFn = Callable[..., None]


class OutboxLock:
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

    lock: OutboxLock | None = None

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
    lock = OutboxLock(db)
    try:
        lock.shared()
        damage = ""
        if not files.recovering(db).exists():
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
        if files.recovering(db).exists():
            files.swap(db)  # a recovery that crashed before its swap: finish it
        else:
            try:
                Outbox(db, max_queue_bytes=max_queue_bytes).close()  # recovered meanwhile?
            except OutboxCorrupt:
                report = recover(db)
                if log is not None:
                    log("outbox_recovered", level="error", **log_fields(report))
        lock.shared()
        return _locked(db, max_queue_bytes, lock), report
    except BaseException:
        lock.close()
        raise


def _locked(db: Path, max_queue_bytes: int, lock: OutboxLock) -> Outbox:
    ob = LockedOutbox(db, max_queue_bytes=max_queue_bytes)
    ob.lock = lock
    return ob
