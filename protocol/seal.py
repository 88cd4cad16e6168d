"""Sealing crew content to the shore: HPKE base mode (RFC 9180 §5.1.1).

Suite: DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305 (KEM 0x0020, KDF 0x0001,
AEAD 0x0003). Output = 32-byte encapsulated key ‖ ciphertext ‖ 16-byte tag: 48 bytes overhead.

``info`` binds the sealed body to its header — the sending device's kid, the message seq and its
time — so a body moved under another header (another device, seq or time) fails to open.

Randomness: the ephemeral KEM key is drawn by ``cryptography``'s HPKE from the OS CSPRNG; its
API takes no rng. This is the one place ``protocol/`` uses randomness it was not handed, and it
is why sealed bodies (unlike signatures, which are deterministic Ed25519) cannot be golden bytes.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocol import cbor
from protocol.errors import SealBroken

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
OVERHEAD = 32 + 16
INFO_LABEL = b"flip-sync/1 crew"


def crew_info(kid: bytes, seq: int, time: int) -> bytes:
    """HPKE ``info`` for a crew message: label ‖ CBOR [kid, seq, time]."""
    return INFO_LABEL + cbor.dumps([kid, seq, time])


def seal(plaintext: bytes, recipient: X25519PublicKey, info: bytes) -> bytes:
    """HPKE-seal ``plaintext`` to ``recipient`` (single-shot, base mode)."""
    return SUITE.encrypt(plaintext, recipient, info=info)


def open_sealed(sealed: bytes, keys: list[X25519PrivateKey], info: bytes) -> bytes:
    """Open with the first of ``keys`` that works (current and previous keys during rotation).

    Raises:
        SealBroken: no key opens it — tampered, moved to another header, or sealed to another key.
    """
    if len(sealed) < OVERHEAD:
        raise SealBroken(f"sealed body of {len(sealed)} bytes is shorter than HPKE overhead")
    for key in keys:
        try:
            return SUITE.decrypt(sealed, key, info=info)
        except (InvalidTag, ValueError):
            continue
    raise SealBroken("sealed body does not open with the shore key for this header")
