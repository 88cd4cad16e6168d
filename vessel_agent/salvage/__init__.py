"""A damaged outbox: keep the evidence, salvage every row still readable, say what was lost.

:func:`open_outbox` is how every process (agent, ``flip vessel status|submit``, the crew
terminal) opens the outbox. When ``PRAGMA quick_check`` fails it does not stop at refusing:

1. under an exclusive lock (no other process has the outbox open) the damaged file and its WAL
   are *copied* to ``outbox.db.corrupt-<UTC time>`` — the evidence, never deleted;
2. a working copy is read table by table, row by row (:mod:`.forensic`);
3. a fresh outbox is built next to it (``outbox.db.recovering``), then swapped in
   (:mod:`.rebuild`). A crash at any step either redoes the salvage from the untouched damaged
   file or finishes the swap.

The modules, one job each: :mod:`.opening` (the lock and :func:`open_outbox`), :mod:`.forensic`
(reading the damaged copy), :mod:`.rebuild` (the fresh outbox, the seq counter and the report),
:mod:`.files` (the side files and the swap). The schema they share with the store is
:mod:`vessel_agent.outbox_schema`.
"""

from __future__ import annotations

from vessel_agent.salvage.opening import LOCK_WAIT_S, LockedOutbox, OutboxLock, open_outbox
from vessel_agent.salvage.rebuild import MAX_RANGES, SEQ_MARGIN, recover, recovered

__all__ = [
    "LOCK_WAIT_S",
    "MAX_RANGES",
    "SEQ_MARGIN",
    "LockedOutbox",
    "OutboxLock",
    "open_outbox",
    "recover",
    "recovered",
]
