"""``flip vessel status``: storage figures, message states and the link state, as a dict.

Lists seqs, kinds and states only — never ciphertext, receipt hashes or urgency — because the
command is run by whoever operates the box, including the captain (docs/vessel-agent.md).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from typing import Any

from vessel_agent import lost
from vessel_agent.device import Device
from vessel_agent.outbox import Kind, State
from vessel_agent.salvage import recovered


def status(device: Device, *, limit: int = 200) -> dict[str, Any]:
    ob = device.outbox
    st = ob.stats()
    rows = ob.db.execute(
        "SELECT seq, kind, state, attempts, created, sent_at FROM messages WHERE state < 2 "
        "ORDER BY seq LIMIT ?",
        (max(0, limit),),
    ).fetchall()
    link_raw = ob.meta("link_status")
    link: dict[str, Any] = {"link": "agent-not-run"}
    if isinstance(link_raw, str):
        with contextlib.suppress(ValueError):
            link = json.loads(link_raw)
    return {
        "dir": str(device.dir.path),
        "name": device.config.name,
        "imei": device.config.imei,
        "kid": device.session.kid.hex(),
        "next_seq": device.session.next_seq,
        "queue": {
            "depth": st.queued + st.sent,
            "queued": st.queued,
            "sent": st.sent,
            "by_kind": st.by_kind,
            "pending_bytes": st.pending_bytes,
            "max_queue_bytes": st.max_queue_bytes,
            "db_bytes": st.db_bytes,
            "acked_kept": st.acked_kept,
            "evicted_total": st.evicted_total,
            # seqs this vessel still has to declare to shore (not yet in an acked heartbeat)
            "declared_lost": declared_lost(ob.db),
        },
        "messages": [
            {
                "seq": seq,
                "kind": Kind(kind).name.lower(),
                "state": State(state).name.lower(),
                "attempts": attempts,
                "created": created,
                "sent_at": sent_at,
            }
            for seq, kind, state, attempts, created, sent_at in rows
        ],
        "link": link,
        # the last time a damaged outbox was salvaged: counts and seq ranges, never content
        "recovered": recovered(ob),
        "airtime_bytes_per_day": device.airtime_bytes_per_day,
        "report_interval_s": device.report_interval_s,
        "config_version": device.session.config_version,
        "time": time.time(),
    }


def declared_lost(db: Any) -> dict[str, Any]:
    """Seqs declared lost and not yet acknowledged ashore: count and ranges by reason."""
    held, unlisted = lost.held(db)
    count, _ = lost.declaration(held, unlisted)
    names = {1: "evicted", 2: "damaged", 3: "skipped"}
    return {
        "seqs": count,
        "ranges": [[a, b, names.get(r, str(r))] for a, b, r in held],
        "unlisted": unlisted,
    }


def receipt_status(device: Device, code: str, *, now: float | None = None) -> dict[str, Any]:
    """The state a receipt holder may see, with the shore's messages opened by the receipt.

    Raises:
        LookupLocked: too many wrong codes lately (throttled across processes).
        ReceiptError: no message here with this code.
    """
    view = device.holder(code, now=now)
    return {
        "seq": view.seq,
        "state": _case_state(view.statuses[-1].status) if view.statuses else view.state,
        "delivery": view.state,
        "created": view.created,
        "statuses": [
            {
                "time": n.time,
                "case_ref": n.case_ref,
                "status": _case_state(n.status),
                "note": n.note,
            }
            for n in view.statuses
        ],
        # from shore, sealed to this grievance's reply key; opened here only in memory
        "messages": [
            {
                "id": m.msg_id,
                "from": "shore",
                "time": m.time,
                "text": m.text,
                "lang": m.lang.tag if m.lang is not None else None,
                # a key the crew member's own device holds: that device opens it
                **({} if m.text is not None else {"sealed": base64.b64encode(m.sealed).decode()}),
            }
            for m in device.conversation(code, now=now)
        ],
    }


def _case_state(code: int) -> str:
    from protocol.messages import CaseState

    try:
        return CaseState(code).name.lower()
    except ValueError:
        return f"status-{code}"
