"""Cloudloop JSON (Lingo) MO bodies: round trip, typed refusals, and any input → a value or
LingoError (Hypothesis, bytes and JSON-shaped documents)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.lingo import MAX_BODY, LingoError, build_lingo_mo, parse_lingo_mo

IMEI = "300434060000001"
WHEN = dt.datetime(2026, 12, 5, 1, 2, 3, tzinfo=dt.UTC)


def body(**changes: object) -> bytes:
    doc = json.loads(
        build_lingo_mo(
            imei=IMEI,
            payload=b"\x84hello",
            received_at=WHEN,
            topic=244,
            message_id=9,
            delivery_id=uuid.UUID(int=1),
        )
    )
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc).encode()


def test_round_trip() -> None:
    mo = parse_lingo_mo(body())
    assert (mo.imei, mo.payload, mo.topic, mo.transport) == (IMEI, b"\x84hello", 244, "imt")
    assert mo.received_at == WHEN and mo.id == str(uuid.UUID(int=1))
    hardware_object = parse_lingo_mo(body(identity={"hardware": {"imei": IMEI}}))
    assert hardware_object.imei == IMEI
    sbd = parse_lingo_mo(body(imt=None, sbd={"momsn": 77}))
    assert sbd.transport == "sbd" and sbd.momsn == 77


@pytest.mark.parametrize(
    "changes",
    [
        {"id": None},
        {"id": 5},
        {"receivedAt": None},
        {"receivedAt": {"year": 2026}},
        {"receivedAt": {"year": 2026, "month": 2, "day": 30, "hour": 1, "minute": 1}},
        {"identity": {"hardware": "12345"}},
        {"identity": {"hardware": "30043406000000x"}},
        {"imt": {"crcError": True}},
        {"imt": {"size": 99}},
        {"imt": {"topic": 5}},
        {"sbd": {"momsn": 1}},
        {"imt": None},
        {"message": "not base64!"},
        {"message": ""},
        {"message": None},
    ],
)
def test_refusals_are_typed(changes: dict[str, object]) -> None:
    with pytest.raises(LingoError):
        parse_lingo_mo(body(**changes))


def test_oversize_and_not_json() -> None:
    with pytest.raises(LingoError, match="exceeds"):
        parse_lingo_mo(b" " * (MAX_BODY + 1))
    for raw in (b"", b"\xff", b"[1]", b"[" * 100_000):
        with pytest.raises(LingoError):
            parse_lingo_mo(raw)


@given(st.binary(max_size=500))
def test_any_bytes(raw: bytes) -> None:
    try:
        parse_lingo_mo(raw)
    except LingoError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(["id", "receivedAt", "identity", "imt", "sbd", "cellular", "message"])


@given(st.dictionaries(keys, json_values, max_size=7))
def test_any_json_document(doc: dict[str, object]) -> None:
    try:
        parse_lingo_mo(json.dumps(doc).encode())
    except LingoError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["year", "month", "day", "hour", "minute", "second"]),
        st.integers(-10, 10_000) | st.booleans() | st.none(),
    )
)
def test_any_received_at(when: dict[str, object]) -> None:
    try:
        parse_lingo_mo(body(receivedAt=when))
    except LingoError:
        pass
