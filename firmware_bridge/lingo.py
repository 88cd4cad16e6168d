"""Cloudloop's "JSON (Lingo)" MO webhook body (LingoMO), built and parsed without I/O.

Cloudloop (Ground Control) posts one JSON object per mobile-originated message to the HTTP
destination configured for the Thing; "JSON (Lingo)" is the format that is not deprecated
(knowledge.cloudloop.com, Destinations → HTTP). Fields used here:

* ``id`` — the delivery's UUID: a retry repeats it (the gateway dedupes on the frame anyway);
* ``receivedAt`` — ``{year, month, day, hour, minute, second}`` in UTC;
* ``identity`` — ``{accountId, subscriber, hardware, thingId}``; ``hardware`` is the IMEI;
* one transport header: ``imt`` (``{topic, messageId, size, crcError}``), ``sbd``
  (``{momsn, …}``) or ``cellular``;
* ``message`` — the payload, base64.

The exact names inside the ``imt`` header and the base64 encoding of ``message`` are not in a
public specification we could read (FIELD-FACTS §11); :func:`parse_lingo_mo` therefore also
accepts ``hardware`` as ``{"imei": …}``; it takes ``message`` as strict base64 only (hex would
be ambiguous: many hex strings are also valid base64), and it refuses a body whose transport
header reports a CRC error.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

MAX_BODY = 256 * 1024  # 100,000 bytes in base64 plus headers, with room to spare
TRANSPORTS = ("imt", "sbd", "cellular")


class LingoError(ValueError):
    """A webhook body that is not a LingoMO we accept; ``str()`` says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LingoMO:
    """One MO delivery."""

    id: str
    received_at: dt.datetime
    imei: str
    transport: str  # imt | sbd | cellular
    payload: bytes
    thing_id: str = ""
    account_id: str = ""
    topic: int | None = None
    momsn: int | None = None


def build_lingo_mo(
    *,
    imei: str,
    payload: bytes,
    received_at: dt.datetime,
    topic: int,
    message_id: int,
    delivery_id: uuid.UUID,
    account_id: str = "",
    thing_id: str = "",
    subscriber: str = "",
) -> bytes:
    """The JSON body Cloudloop posts for one IMT MO message."""
    t = received_at.astimezone(dt.UTC)
    body = {
        "id": str(delivery_id),
        "receivedAt": {
            "year": t.year,
            "month": t.month,
            "day": t.day,
            "hour": t.hour,
            "minute": t.minute,
            "second": t.second,
        },
        "identity": {
            "accountId": account_id,
            "subscriber": subscriber,
            "hardware": imei,
            "thingId": thing_id,
        },
        "imt": {"topic": topic, "messageId": message_id, "size": len(payload), "crcError": False},
        "message": binascii.b2a_base64(payload, newline=False).decode("ascii"),
    }
    return json.dumps(body).encode("utf-8")


def _obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LingoError(f"{name} must be an object")
    return value


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise LingoError(f"{name} must be an integer {lo}..{hi}")
    return value


def _text(value: Any, name: str, limit: int = 128) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise LingoError(f"{name} must be a string of at most {limit} characters")
    return value


def _payload(text: Any) -> bytes:
    if not isinstance(text, str) or not text:
        raise LingoError("message must be a non-empty string")
    raw = text.strip().encode("ascii", "replace")
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error:
        raise LingoError("message is not base64") from None


def parse_lingo_mo(body: bytes) -> LingoMO:
    """A LingoMO webhook body → :class:`LingoMO`.

    Raises:
        LingoError: oversize, not JSON, a field missing or malformed, a CRC error flagged.
    """
    if len(body) > MAX_BODY:
        raise LingoError(f"body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise LingoError("body is not JSON") from None
    doc = _obj(doc, "body")
    delivery = _text(doc.get("id"), "id", 64)
    if not delivery:
        raise LingoError("id is missing")
    when = _obj(doc.get("receivedAt"), "receivedAt")
    try:
        received = dt.datetime(
            _int(when.get("year"), "receivedAt.year", 2000, 9999),
            _int(when.get("month"), "receivedAt.month", 1, 12),
            _int(when.get("day"), "receivedAt.day", 1, 31),
            _int(when.get("hour"), "receivedAt.hour", 0, 23),
            _int(when.get("minute"), "receivedAt.minute", 0, 59),
            _int(when.get("second", 0), "receivedAt.second", 0, 60) % 60,
            tzinfo=dt.UTC,
        )
    except ValueError as exc:
        raise LingoError(f"receivedAt is not a date: {exc}") from None
    identity = _obj(doc.get("identity"), "identity")
    hardware = identity.get("hardware")
    if isinstance(hardware, dict):
        hardware = hardware.get("imei")
    imei = _text(hardware, "identity.hardware", 15)
    if not (len(imei) == 15 and imei.isascii() and imei.isdigit()):
        raise LingoError("identity.hardware must be a 15-digit IMEI")
    present = [t for t in TRANSPORTS if t in doc]
    if len(present) != 1:
        raise LingoError("exactly one transport header (imt, sbd, cellular) is required")
    transport = present[0]
    header = _obj(doc[transport], transport)
    if header.get("crcError") is True:
        raise LingoError(f"{transport}.crcError: the provider received a corrupt message")
    topic = momsn = None
    if transport == "imt" and "topic" in header:
        topic = _int(header["topic"], "imt.topic", 64, 65535)
    if transport == "sbd" and "momsn" in header:
        momsn = _int(header["momsn"], "sbd.momsn", 0, 65535)
    payload = _payload(doc.get("message"))
    if "size" in header and _int(header["size"], f"{transport}.size", 0, 10**6) != len(payload):
        raise LingoError(f"{transport}.size does not match the message")
    return LingoMO(
        id=delivery,
        received_at=received,
        imei=imei,
        transport=transport,
        payload=payload,
        thing_id=_text(identity.get("thingId"), "identity.thingId"),
        account_id=_text(identity.get("accountId"), "identity.accountId"),
        topic=topic,
        momsn=momsn,
    )
