"""Cloudloop MO webhook (FIELD-FACTS §11): ``POST /ingest/cloudloop``.

Cloudloop (Ground Control) posts each mobile-originated IMT (RockBLOCK 9704) or SBD message as
"JSON (Lingo)" (:mod:`firmware_bridge.lingo`) and retries anything but a 200 within 5 s — from
2 s, doubling, for about 12 hours. So:

* the answer comes as soon as the message's frame is durably stored (the pipeline's ``accept``);
* a retry is a duplicate: the pipeline's (device, seq) dedupe absorbs it (IMT has no MOMSN, so
  the raw store keeps each arrival, as it does for every arrival without one);
* the message is one frame (docs/wire-format.md §1.1): on IMT up to 100,000 bytes, many
  messages under one signature (:mod:`protocol.links`); an SBD message is a frame of ≤ 340.

Cloudloop documents no request signature. The sender is authenticated by each frame's signature
(a forged or replayed frame is refused further on); in front of that, the operator may require a
secret URL token (``FLIP_CLOUDLOOP_TOKEN``: the destination URL ends ``?token=SECRET``) and/or an
address allowlist (``FLIP_CLOUDLOOP_ALLOW``: comma-separated networks).

Answers: 200 ``{"status": "stored" | "duplicate"}``; 401 wrong token; 403 address not allowed;
400 a body that is not a LingoMO; 413 oversize; 422 a frame the pipeline refused (with its
reason; a retry changes nothing, and the vessel keeps every message that is not acknowledged).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from firmware_bridge.lingo import MAX_BODY, LingoError, parse_lingo_mo
from shore_gateway.models import Channel
from shore_gateway.pipeline_api import ArrivalMeta, FrameSink, Outcome

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])


def _allowed(client: str | None, allow: str) -> bool:
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    for item in (part.strip() for part in allow.split(",")):
        if not item:
            continue
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            log.warning("cloudloop allowlist entry %r is not a network", item)
    return False


def check_access(request: Request) -> None:
    """Token and allowlist, when configured (raises 401 / 403)."""
    settings = request.app.state.settings
    token = getattr(settings, "cloudloop_token", None)
    if token and not hmac.compare_digest(
        request.query_params.get("token", "").encode(), token.encode()
    ):
        request.app.state.metrics.frame_rejected("cloudloop", "bad_token")
        raise HTTPException(401, "missing or wrong token")
    allow = getattr(settings, "cloudloop_allow", None)
    if allow and not _allowed(request.client.host if request.client else None, allow):
        request.app.state.metrics.frame_rejected("cloudloop", "not_allowed")
        raise HTTPException(403, "address not allowed")


@router.post("/ingest/cloudloop")
async def cloudloop_webhook(request: Request) -> JSONResponse:
    """Receive one Cloudloop MO delivery and hand its frames to the frame sink."""
    check_access(request)
    sink: FrameSink = request.app.state.sink
    metrics = request.app.state.metrics
    received_at = dt.datetime.now(dt.UTC)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"body over {MAX_BODY} bytes")
    body = await request.body()
    try:
        mo = parse_lingo_mo(body)
    except LingoError as exc:
        metrics.frame_rejected("cloudloop", "malformed")
        status = 413 if "exceeds" in str(exc) else 400
        raise HTTPException(status, str(exc)) from None
    meta = ArrivalMeta(
        channel=Channel.CLOUDLOOP,
        imei=mo.imei,
        momsn=mo.momsn,
        provider_time=mo.received_at,
        received_at=received_at,
    )
    result = await sink.accept(mo.payload, meta)
    log.info(
        "cloudloop arrival id=%s imei=%s transport=%s bytes=%d outcome=%s",
        mo.id,
        mo.imei,
        mo.transport,
        len(mo.payload),
        result.outcome.value,
    )
    if result.outcome is Outcome.REJECTED:
        raise HTTPException(422, result.reason or "frame refused")
    return JSONResponse({"status": result.outcome.value})
