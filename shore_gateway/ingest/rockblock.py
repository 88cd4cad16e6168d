"""RockBLOCK MO webhook (FIELD-FACTS §3): ``POST /ingest/rockblock``.

RockBLOCK posts ``imei``, ``serial``, ``momsn``, ``transmit_time`` (UTC ``YY-MM-DD HH:MM:SS``),
``iridium_latitude``, ``iridium_longitude``, ``iridium_cep`` (km) and ``data`` (hex), form-encoded
or as JSON, plus a ``JWT`` (RS256) that repeats the fields. When the provider's public key is
configured, the JWT must verify and its claims must match the posted fields, else 401. None of
the provider's fields identify the sender for us — the frame's signature does; they are kept
beside the frame as metadata. The answer is 200 as soon as the sink has stored the arrival
(RockBLOCK wants it within 3 s and retries otherwise; a retry is stored once).
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

import jwt
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from shore_gateway.errors import RemoteError
from shore_gateway.models import Channel
from shore_gateway.pipeline_api import ArrivalMeta, FrameSink, Outcome

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])

_FIELDS = ("imei", "serial", "momsn", "transmit_time", "data")


class RockblockError(RemoteError, ValueError):
    """A webhook body whose fields are malformed; ``str()`` says which."""


def parse_transmit_time(value: str) -> dt.datetime:
    """``YY-MM-DD HH:MM:SS`` (UTC) → aware datetime. Raises :class:`RockblockError`."""
    try:
        return dt.datetime.strptime(value.strip(), "%y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise RockblockError(f"transmit_time {value[:40]!r} is not YY-MM-DD HH:MM:SS") from None


def _float(fields: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    raw = fields.get(name)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = float(str(raw))
    except ValueError:
        raise RockblockError(f"{name} {str(raw)[:40]!r} is not a number") from None
    if not lo <= value <= hi:
        raise RockblockError(f"{name} {value} is out of range")
    return value


def parse_webhook(
    fields: Mapping[str, Any], *, received_at: dt.datetime
) -> tuple[bytes, ArrivalMeta]:
    """Webhook fields → (payload bytes, metadata). Raises :class:`RockblockError`."""
    imei = str(fields.get("imei", "")).strip()
    # ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and other scripts.
    if not (imei.isascii() and imei.isdigit() and len(imei) == 15):
        raise RockblockError("imei must be 15 digits")
    momsn_raw = str(fields.get("momsn", "")).strip()
    if not (momsn_raw.isascii() and momsn_raw.isdigit()) or int(momsn_raw) > 65535:
        raise RockblockError("momsn must be an integer 0..65535")
    data = str(fields.get("data", "")).strip()
    if not data:
        raise RockblockError("data is empty")
    try:
        payload = binascii.unhexlify(data)
    except (binascii.Error, ValueError):
        raise RockblockError("data is not hexadecimal") from None
    transmit = fields.get("transmit_time")
    meta = ArrivalMeta(
        channel=Channel.ROCKBLOCK,
        imei=imei,
        momsn=int(momsn_raw),
        provider_time=parse_transmit_time(str(transmit)) if transmit else None,
        lat=_float(fields, "iridium_latitude", -90, 90),
        lon=_float(fields, "iridium_longitude", -180, 180),
        cep_km=_float(fields, "iridium_cep", 0, 10_000),
        received_at=received_at,
    )
    return payload, meta


def verify_jwt(token: str, public_key_pem: str, fields: Mapping[str, Any]) -> None:
    """The JWT must verify (RS256) and repeat the posted fields. Raises :class:`jwt.PyJWTError`."""
    claims = jwt.decode(
        token,
        public_key_pem,
        algorithms=["RS256"],
        options={"require": [], "verify_aud": False},
    )
    for name in _FIELDS:
        if name in claims and name in fields and str(claims[name]) != str(fields[name]):
            raise jwt.InvalidTokenError(f"JWT claim {name} does not match the posted field")
    if "data" not in claims or "imei" not in claims:
        raise jwt.InvalidTokenError("JWT does not carry the imei and data fields")


async def read_fields(request: Request) -> dict[str, Any]:
    """Form-encoded, multipart or JSON body → flat dict of strings. Raises RockblockError."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            raise RockblockError("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise RockblockError("JSON body must be an object")
        return {str(k): v for k, v in body.items() if isinstance(v, str | int | float)}
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(max_files=0, max_fields=64)
        except Exception as exc:  # starlette raises several types for broken forms
            raise RockblockError(f"form body does not parse: {type(exc).__name__}") from None
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise HTTPException(415, "send application/x-www-form-urlencoded or application/json")


@router.post("/ingest/rockblock")
async def rockblock_webhook(request: Request) -> JSONResponse:
    """Receive one RockBLOCK MO delivery and hand its payload to the frame sink."""
    settings = request.app.state.settings
    sink: FrameSink = request.app.state.sink
    received_at = dt.datetime.now(dt.UTC)
    try:
        fields = await read_fields(request)
        key = settings.rockblock_jwt_public_key
        if key:
            token = fields.get("JWT") or fields.get("jwt")
            if not token:
                raise HTTPException(401, "JWT missing")
            try:
                verify_jwt(str(token), key, fields)
            except jwt.PyJWTError as exc:
                request.app.state.metrics.frame_rejected("rockblock", "bad_jwt")
                raise HTTPException(401, f"JWT rejected: {exc}") from None
        payload, meta = parse_webhook(fields, received_at=received_at)
    except RockblockError as exc:
        request.app.state.metrics.frame_rejected("rockblock", "malformed")
        raise HTTPException(400, str(exc)) from None
    result = await sink.accept(payload, meta)
    log.info(
        "rockblock arrival imei=%s momsn=%s bytes=%d outcome=%s",
        meta.imei,
        meta.momsn,
        len(payload),
        result.outcome.value,
    )
    if result.outcome is Outcome.REJECTED:
        status = 413 if result.reason and "exceeds" in result.reason else 400
        raise HTTPException(status, result.reason or "frame rejected")
    return JSONResponse({"status": result.outcome.value, "raw_frame_id": result.raw_frame_id})
