"""One fuzz target per decoder: any bytes → a value or the decoder's typed error.

Each target takes ``bytes`` and returns nothing. It calls the decoder the way the system does
and swallows only the typed errors that the decoder documents; anything else (an
``IndexError``, a ``UnicodeDecodeError``, an ``OverflowError``, a ``RecursionError``…)
escapes, and the fuzzer reports it as a crash. Streaming decoders are fed whole and byte by
byte, and must agree.

The targets are plain functions, no atheris import, so Hypothesis (tests/fuzz/) and atheris
(fuzz/run.py) drive exactly the same code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import urllib.parse
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from protocol import frame, keys
from protocol.errors import ProtocolError
from tests.helpers import det_rng

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Each target imports its decoder itself, so a fuzzing process loads (and atheris instruments)
# only what that target needs: the shore feeds pull in SQLModel and FastAPI, the wire codecs
# do not.

Target = Callable[[bytes], None]
NOW = 1_763_640_000
RECEIVED = dt.datetime(2025, 11, 20, 12, 0, tzinfo=dt.UTC)


_rng = det_rng  # deterministic keys: a crash found by the fuzzer must replay exactly


@cache
def _device_key() -> Ed25519PrivateKey:
    return keys.new_signing_key(_rng("fuzz device"))


@cache
def _shore_key() -> Ed25519PrivateKey:
    return keys.new_signing_key(_rng("fuzz shore"))


def _text(data: bytes) -> str:
    """Bytes as the text decoders see it: UTF-8 with replacement (the HTTP layer's choice)."""
    return data.decode("utf-8", "replace")


# --- protocol (sans-IO) --------------------------------------------------------------------


def cbor_loads(data: bytes) -> None:
    """The one CBOR decoder every wire structure goes through (depth, size, determinism)."""
    from protocol import cbor

    with contextlib.suppress(ProtocolError):
        cbor.loads(data, what="fuzz")


def uplink_frame(data: bytes) -> None:
    """A frame as it arrives from the provider (before any signature check)."""
    try:
        sign1 = frame.parse(data, max_size=frame.UPLINK_MAX)
        frame.parse_uplink(sign1.payload)
    except ProtocolError:
        pass


def uplink_payload(data: bytes) -> None:
    """A payload the *device key* signed. The captain holds that key, so after a good
    signature the payload, every message in it and the crew content are attack surface."""
    from protocol.messages import decode_crew, decode_message

    try:
        for _msg, encoded in frame.parse_uplink(data):
            decode_message(encoded)
    except ProtocolError:
        pass
    with contextlib.suppress(ProtocolError):
        decode_crew(data)


def shore_session(data: bytes) -> None:
    """The shore core in its in-memory store (verify, dedupe, reassembly, gaps, chain) on
    payloads signed with a registered device key: what a compromised or buggy vessel can make
    the shore do."""
    from protocol.shore import ShoreSession

    key = _device_key()
    pub = key.public_key()
    kid = keys.key_id(pub)
    shore = ShoreSession(sign_key=_shore_key(), lookup=lambda k: [("v", pub)] if k == kid else [])
    for chunk in (data, data[len(data) // 2 :]):
        signed = frame.sign(chunk, key, kid)
        with contextlib.suppress(ProtocolError):
            shore.receive_frame(signed, NOW)
    shore.handle_timer(NOW + 10**6)


def vessel_downlink(data: bytes) -> None:
    """A downlink frame as the vessel reads it from the modem: unsigned bytes (a forged ack
    from the captain) and, separately, a payload signed by the real shore key."""
    from protocol.vessel import VesselSession

    vessel = VesselSession(
        sign_key=_device_key(),
        shore_sign_pub=_shore_key().public_key(),
        shore_seal_pub=keys.new_sealing_key(_rng("fuzz seal")).public_key(),
    )
    with contextlib.suppress(ProtocolError):
        vessel.handle_downlink(data, NOW)
    signed = frame.sign(data, _shore_key(), keys.key_id(_shore_key().public_key()))
    with contextlib.suppress(ProtocolError):
        vessel.handle_downlink(signed, NOW)
    with contextlib.suppress(ProtocolError):
        frame.parse_downlink(data)


def text(data: bytes) -> None:
    """The text codec (SCSU / deflate with preset dictionaries): bombs are Oversize, and a text
    that decodes is encoded back to a body that decodes to exactly that text."""
    from protocol.lang import Lang
    from protocol.text import decode_text

    if not data:
        return
    lang = Lang(data[0] % 8)
    try:
        decoded = decode_text(data[1:], lang)
    except ProtocolError:
        return
    _round_trip(decoded, lang)


def text_round_trip(data: bytes) -> None:
    """Any text (every plane; three bytes per code point, surrogates skipped) in any language:
    ``decode_text(encode_text(t, lang), lang) == t`` — the codec never alters crew words."""
    from protocol.errors import LocalProtocolError
    from protocol.lang import Lang
    from protocol.text import encode_text

    if not data:
        return
    points = (int.from_bytes(data[i : i + 3], "big") % 0x110000 for i in range(1, len(data), 3))
    words = "".join(chr(p) for p in points if not 0xD800 <= p <= 0xDFFF)
    if "\x00" in words:  # the one code point a text field may not hold: refused, typed
        try:
            encode_text(words, Lang(data[0] % 8))
        except LocalProtocolError:
            return
        raise AssertionError("a text with U+0000 was encoded")
    _round_trip(words, Lang(data[0] % 8))


def _round_trip(words: str, lang: Any) -> None:
    from protocol.text import decode_text, encode_text

    encoded = encode_text(words, lang)
    back = decode_text(encoded, lang, max_chars=max(len(words), 1))
    if back != words:  # an AssertionError is a crash for both fuzzers
        raise AssertionError(f"text altered: codec byte 0x{encoded[0]:02x}, {len(words)} chars")


# --- serial side ---------------------------------------------------------------------------


def directip_codec(data: bytes) -> None:
    """DirectIP MO/MT messages and confirmations, and the stream reader whole vs byte by byte."""
    from firmware_bridge import directip
    from firmware_bridge.errors import DirectIPError

    for decode in (
        directip.decode_mo,
        directip.decode_mt,
        directip.decode_mo_confirmation,
        directip.decode_mt_confirmation,
    ):
        with contextlib.suppress(DirectIPError):
            decode(data)
    whole: list[bytes] = []
    error = None
    try:
        reader = directip.DirectIPReader()
        whole = reader.receive_data(data)
        whole += reader.receive_data(None)
    except DirectIPError as exc:
        error = type(exc)
    bytewise: list[bytes] = []
    error2 = None
    try:
        reader = directip.DirectIPReader()
        for i in range(len(data)):
            bytewise += reader.receive_data(data[i : i + 1])
        bytewise += reader.receive_data(None)
    except DirectIPError as exc:
        error2 = type(exc)
    if error is None and error2 is None:
        assert whole == bytewise, "DirectIP reader: whole and byte by byte disagree"
    else:
        assert error is not None, "only the byte-by-byte feeding raised"
        assert error2 is not None, "only the whole feeding raised"


def modem(data: bytes) -> None:
    """The emulated modem's AT interpreter: any bytes from the host, never an exception."""
    from firmware_bridge.modem import ModemMachine

    machine = ModemMachine(imei="300234010753370")
    now = 0.0
    for i in range(0, len(data), 7):
        machine.receive_data(data[i : i + 7], now)
        now += 0.5
        timer = machine.get_timer()
        if timer is not None and timer <= now + 100:
            machine.handle_timer(timer)


def nmea(data: bytes) -> None:
    """The GPS port: the streaming parser (whole and byte by byte agree) and single sentences."""
    from firmware_bridge.errors import NMEAError
    from firmware_bridge.nmea import NMEAParser, parse_sentence

    whole = NMEAParser().receive_data(data)
    parser = NMEAParser()
    bytewise = []
    for i in range(len(data)):
        bytewise += parser.receive_data(data[i : i + 1])
    assert whole == bytewise, "NMEA parser: whole and byte by byte disagree"
    for line in _text(data).splitlines()[:8]:
        with contextlib.suppress(NMEAError):
            parse_sentence(line, RECEIVED.date())


# --- shore feeds ---------------------------------------------------------------------------


def naf(data: bytes) -> None:
    from shore_gateway.context.naf import NafError, parse_naf

    for line in _text(data).splitlines()[:16] or [""]:
        with contextlib.suppress(NafError):
            parse_naf(line)


def ais(data: bytes) -> None:
    """AIVDM lines as ``ingest_ais`` reads them (ASCII lines; others it refuses up front)."""
    from shore_gateway.context.ais import AisError, _decode, _parse_sentence, _tag_time

    for raw in data.splitlines()[:16]:
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            continue
        try:
            msg = _parse_sentence(line)
            _tag_time(msg)
            _decode(msg)
        except AisError:
            pass


def epcis(data: bytes) -> None:
    from shore_gateway.context.epcis import EpcisError, load_document, parse_event

    try:
        _text_doc, events = load_document(data)
    except EpcisError:
        return
    for index, raw in enumerate(events[:64]):
        parse_event(raw, index)


def rockblock(data: bytes) -> None:
    """The webhook's fields, form-encoded and as JSON (the route's two body parsers)."""
    from shore_gateway.ingest.rockblock import RockblockError, parse_webhook

    forms: list[dict[str, Any]] = []
    with contextlib.suppress(ValueError):
        forms.append(dict(urllib.parse.parse_qsl(data.decode("latin-1"), max_num_fields=64)))
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        forms.append({str(k): v for k, v in body.items() if isinstance(v, str | int | float)})
    for fields in forms:
        with contextlib.suppress(RockblockError):
            parse_webhook(fields, received_at=RECEIVED)


def mqtt_envelope(data: bytes) -> None:
    from shore_gateway.ingest.mqtt import EnvelopeError, parse_mo

    for topic in ("flip/v1/mo/300234010753370", "flip/v1/mo/" + _text(data[:20])):
        with contextlib.suppress(EnvelopeError):
            parse_mo(topic, data, received_at=RECEIVED)


TARGETS: dict[str, Target] = {
    "cbor": cbor_loads,
    "frame": uplink_frame,
    "payload": uplink_payload,
    "shore": shore_session,
    "downlink": vessel_downlink,
    "text": text,
    "text_round_trip": text_round_trip,
    "directip": directip_codec,
    "modem": modem,
    "nmea": nmea,
    "naf": naf,
    "ais": ais,
    "epcis": epcis,
    "rockblock": rockblock,
    "mqtt": mqtt_envelope,
}
