"""The crew app's intake key and the sealed requests the page sends with it.

Every crew action (submit, receipt lookup, withdraw, ask for news) goes from the browser to the
agent as **one** kind of request: an HPKE seal (base mode, the suite of docs/wire-format.md §4)
to the agent's *intake* X25519 key with ``info = INFO_REQUEST``, of a JSON object padded with
spaces to a size bucket. Inside: the action, its fields, a single-use ``token`` the agent issued
(replay and cross-site protection) and ``resp_pub`` — a fresh X25519 key the page made for this
one request, to which the agent seals its answer (``info = INFO_REPLY``). So on the vessel
network a listener sees only buckets of ciphertext both ways: neither the words, nor the
receipt code, nor which action it was, nor the answer.

The intake private key (``crew_intake.pem``, mode 0600) never leaves the box; ``flip vessel
init`` makes it, and the agent makes it on first run for directories created before it existed.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import keys
from protocol.errors import LocalProtocolError, SealBroken
from protocol.seal import OVERHEAD, open_sealed, seal
from vessel_agent.config import write_atomic
from vessel_agent.errors import ConfigError

INTAKE_KEY = "crew_intake.pem"
INFO_REQUEST = b"flip-sync/1 crew-app request"
INFO_REPLY = b"flip-sync/1 crew-app reply"
#: Largest sealed request accepted (2,000 Burmese characters are ~6 kB of JSON-escaped UTF-8).
MAX_SEALED = 16_384
#: Plaintexts are padded with spaces to a multiple of this (the page does; replies likewise).
PAD_TO = 1024
OPS = frozenset({"submit", "reserve", "lookup", "withdraw", "ask", "messages", "decode", "reply"})
#: A recorded voice note (``POST /api/v1/crew/voice``): 60 s of 16 kHz 16-bit mono, padded.
MAX_VOICE_SEALED = 2_000_000
VOICE_PAD_TO = 32_000  # one second of 16 kHz 16-bit audio: the note's length shows in seconds


class BadRequest(ValueError):
    """A sealed request that cannot be used; the message is safe to show (no content)."""


def load_or_create(
    directory: str | os.PathLike[str], rng: Callable[[int], bytes] = secrets.token_bytes
) -> X25519PrivateKey:
    """The intake key of an agent directory, created (0600) if the file is missing.

    Raises:
        ConfigError: the file exists but is not an X25519 private key, or cannot be written.
    """
    path = Path(directory) / INTAKE_KEY
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        key = keys.new_sealing_key(rng)
        try:
            write_atomic(path, keys.private_pem(key), mode=0o600)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
        return key
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return keys.load_sealing_key(pem)
    except LocalProtocolError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One opened crew request (lives in memory only, for the duration of one call)."""

    op: str
    token: str
    resp_pub: bytes
    fields: dict[str, Any]


def open_request(sealed: bytes, key: X25519PrivateKey) -> Request:
    """Open and check a sealed request.

    Raises:
        BadRequest: too short/long, does not open with the intake key, not a padded JSON
            object with a known ``op``, a ``token`` string and a 32-byte ``resp_pub``.
    """
    if not OVERHEAD < len(sealed) <= MAX_SEALED:
        raise BadRequest(f"a sealed request has {OVERHEAD + 1}..{MAX_SEALED} bytes")
    return _request(_open(sealed, key), OPS)


def open_voice_request(sealed: bytes, key: X25519PrivateKey) -> tuple[Request, bytes]:
    """Open a sealed voice note: ``u32 n ‖ n bytes of request JSON (op "voice", padded) ‖ the
    recording`` (16-bit little-endian mono PCM at ``fields["rate"]``, ``fields["samples"]``
    samples, zero-padded). Returns the request and the recording's bytes — in memory only.

    Raises:
        BadRequest: as :func:`open_request`, or the lengths disagree.
    """
    if not OVERHEAD < len(sealed) <= MAX_VOICE_SEALED:
        raise BadRequest(f"a sealed voice note has {OVERHEAD + 1}..{MAX_VOICE_SEALED} bytes")
    plain = _open(sealed, key)
    n = int.from_bytes(plain[:4], "big") if len(plain) >= 4 else 0
    if not 0 < n <= min(MAX_SEALED, len(plain) - 4):
        raise BadRequest("the voice note's header length is wrong")
    req = _request(plain[4 : 4 + n], frozenset({"voice"}))
    samples = req.fields.get("samples")
    audio = plain[4 + n :]
    if type(samples) is not int or not 0 < 2 * samples <= len(audio):
        raise BadRequest("samples must be a count the recording holds")
    return req, audio[: 2 * samples]


def _open(sealed: bytes, key: X25519PrivateKey) -> bytes:
    try:
        return open_sealed(sealed, [key], INFO_REQUEST)
    except SealBroken:
        raise BadRequest("the request does not open with this box's intake key") from None


def _request(plain: bytes, ops: frozenset[str]) -> Request:
    try:
        data = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the opened request is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the opened request is not a JSON object")
    op, token, resp = data.pop("op", None), data.pop("token", None), data.pop("resp_pub", None)
    if op not in ops:
        raise BadRequest("unknown action")
    if not isinstance(token, str) or not 0 < len(token) <= 64:
        raise BadRequest("missing token")
    resp_pub = hex_field(resp, "resp_pub")
    return Request(op=op, token=token, resp_pub=resp_pub, fields=data)


def hex_field(value: object, name: str, size: int = 32) -> bytes:
    """``size`` bytes (a 32-byte key by default) sent as hex digits (raises :class:`BadRequest`)."""
    try:
        if not isinstance(value, str) or len(value) != 2 * size:
            raise ValueError
        raw = bytes.fromhex(value)
    except ValueError:
        raise BadRequest(f"{name} must be {2 * size} hex digits") from None
    return raw


def seal_reply(reply: dict[str, Any], resp_pub: bytes) -> bytes:
    """The answer, JSON padded like requests, sealed to the page's one-time key."""
    body = json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    body += b" " * (-len(body) % PAD_TO)
    return seal(body, keys.seal_public_from_raw(resp_pub), INFO_REPLY)
