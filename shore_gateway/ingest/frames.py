"""Frames straight from a vessel on a broadband window: ``POST /ingest/frames``.

When a vessel has an IP link (Starlink, 4G near the coast, Wi-Fi in port) its agent posts the
same signed messages it would put on the satellite modem, in frames of up to 100,000 bytes
(``vessel_agent/broadband.py``; docs/wire-format.md §1.1). The body is one frame
(``application/octet-stream``); there is no login: **identity is the frame's
signature**, checked by the pipeline like every other arrival, and a replay is absorbed by the
(device, seq) dedupe. The link is optional and never required — whatever does not go this way
goes by satellite, and whatever goes both ways is stored once.

Answers: 200 ``{"status": "stored" | "duplicate"}`` once the frame is durable; refusals, typed
by the pipeline's reason: 400 malformed or truncated, 401 bad signature, 403 unknown device or
revoked key, 409 replayed, 413 over the frame limit (or body limit), 415 another content type,
422 anything else the pipeline refuses.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from shore_gateway.models import Channel
from shore_gateway.pipeline_api import ArrivalMeta, FrameSink, Outcome, frame_limit

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])

CONTENT_TYPES = ("application/octet-stream", "application/cose", "application/cbor")
_STATUS = {
    "Oversize": 413,
    "Malformed": 400,
    "Truncated": 400,
    "UnknownVersion": 400,
    "BadSignature": 401,
    "UnknownDevice": 403,
    "Replayed": 409,
}


def refusal_status(reason: str | None) -> int:
    """HTTP status for a pipeline refusal (its reason starts with the error's class name)."""
    head = (reason or "").split(":", 1)[0].split(" ", 1)[0]
    if head in _STATUS:
        return _STATUS[head]
    if reason and "exceeds" in reason:
        return 413
    return 422


@router.post("/ingest/frames")
async def ingest_frame(request: Request) -> JSONResponse:
    """Receive one signed frame from a vessel's IP link."""
    sink: FrameSink = request.app.state.sink
    metrics = request.app.state.metrics
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in CONTENT_TYPES:
        raise HTTPException(415, f"send one frame as {CONTENT_TYPES[0]}")
    limit = frame_limit(Channel.FRAMES, request.app.state.settings.max_frame_bytes)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        metrics.frame_rejected("frames", "oversize")
        raise HTTPException(413, f"a frame is at most {limit} bytes")
    body = await request.body()
    if not body:
        metrics.frame_rejected("frames", "empty")
        raise HTTPException(400, "empty body: send one signed frame")
    result = await sink.accept(body, ArrivalMeta(channel=Channel.FRAMES))
    log.info("ip frame bytes=%d outcome=%s", len(body), result.outcome.value)
    if result.outcome is Outcome.REJECTED:
        raise HTTPException(refusal_status(result.reason), result.reason or "frame refused")
    return JSONResponse({"status": result.outcome.value})
