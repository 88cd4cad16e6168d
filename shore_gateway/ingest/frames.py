"""Frames straight from a vessel on a broadband window: ``POST /ingest/frames``.

When a vessel has an IP link (Starlink, 4G near the coast, Wi-Fi in port) its agent posts the
same signed messages it would put on the satellite modem, in frames of up to 100,000 bytes
(``vessel_agent/broadband.py``; docs/wire-format.md §1.1). The body is one frame
(``application/octet-stream``); there is no login: **identity is the frame's
signature**, checked by the pipeline like every other arrival, and a replay is absorbed by the
(device, seq) dedupe. The link is optional and never required — whatever does not go this way
goes by satellite, and whatever goes both ways is stored once.

Downlinks come back the same way: the 200 answer carries ``"downlink"``, the vessel's acks and
queued messages as base64 downlink frames of up to 100,000 bytes, signed by the shore for the
device whose signature the posted frame bears (so nobody else can ask for them). They count as
delivered like a confirmed MT. A repeated post (a duplicate arrival) gets the acks only, so
replaying a captured frame fetches nothing new. The vessel polls by posting new frames.

Answers: 200 ``{"status": "stored" | "duplicate", "downlink": [base64, ...]}`` once the frame
is durable; refusals, typed by the pipeline's reason: 400 malformed or truncated, 401 bad
signature, 403 unknown device or revoked key, 409 replayed, 413 over the frame limit (or body
limit), 415 another content type, 422 anything else the pipeline refuses.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from protocol import frame, links, shorecore
from protocol.errors import ProtocolError
from protocol.keys import verify_key_from_raw
from shore_gateway.db import Database
from shore_gateway.downlink import answer_ip
from shore_gateway.models import Channel
from shore_gateway.pipeline_api import ArrivalMeta, FrameSink, Outcome, frame_limit
from shore_gateway.registry import candidate_keys

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
    key = _sign_key(request)
    down: list[bytes] = []
    if key is not None:
        fresh = result.outcome is Outcome.STORED
        down = await asyncio.to_thread(_downlink, request.app.state.db, body, key, fresh)
    return JSONResponse(
        {
            "status": result.outcome.value,
            "downlink": [base64.b64encode(d).decode("ascii") for d in down],
        }
    )


def _sign_key(request: Request) -> Ed25519PrivateKey | None:
    """The shore signing key (``app.state.sign_key``, else loaded once from the keys
    directory); ``None`` on a gateway without keys — then no downlink is served over IP."""
    state = request.app.state
    if getattr(state, "sign_key", None) is None:
        keys_dir: Path | None = state.settings.keys_dir
        if keys_dir is None or not any(keys_dir.glob("*.pem")):
            return None
        from shore_gateway.ingest.service import load_sign_key

        state.sign_key = load_sign_key(keys_dir)
    key: Ed25519PrivateKey = state.sign_key
    return key


def _downlink(db: Database, data: bytes, key: Ed25519PrivateKey, fresh: bool) -> list[bytes]:
    """The downlink frames for the vessel that signed ``data`` (already verified and stored
    by the pipeline; verified again here to learn whose it is)."""
    try:
        sign1 = frame.parse(data, max_size=links.IP.uplink)
    except ProtocolError:
        return []
    with db.session() as session:
        candidates = candidate_keys(session, [sign1.kid]).get(sign1.kid, [])
        try:
            signer = shorecore.verify(
                sign1, candidates, lambda c: verify_key_from_raw(c.public_key)
            )
        except ProtocolError:
            return []
        return answer_ip(session, signer.vessel_id, sign_key=key, now=int(time.time()), fresh=fresh)
