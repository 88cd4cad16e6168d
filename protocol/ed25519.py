"""Ed25519 sign and verify, through libsodium (PyNaCl): the one place frames' signatures are made.

Keys stay :mod:`cryptography` objects everywhere (generation from an injected rng, PEM, key ids:
:mod:`protocol.keys`); only the arithmetic runs in libsodium, which signs ≈ 1.6 × and verifies
≈ 2 × faster than OpenSSL's Ed25519 on the reference machine (``bench/sim.py`` records both).
Ed25519 signatures are deterministic (RFC 8032), so both backends produce the same bytes for the
same key and message; ``tests/protocol/test_ed25519.py`` checks that, and that each verifies
the other's signatures. libsodium's verification is also strict where RFC 8032 leaves room:
it refuses non-canonical encodings and small-order keys, which no honest signer produces.

A gateway verifies every frame and a vessel every downlink, so this is the protocol's hottest
cryptography; libsodium's secret key (seed ‖ public key) costs a scalar multiplication to
derive, so it is derived once per signing key and kept (:func:`_secret`).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError

SIGNATURE_LEN = 64


class InvalidSignature(Exception):
    """The signature does not verify for this key and message."""


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message`` by ``key``."""
    return crypto_sign(message, _secret(key.private_bytes_raw()))[:SIGNATURE_LEN]


def verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """Raises :class:`InvalidSignature` unless ``signature`` is ``key``'s over ``message``."""
    if len(signature) != SIGNATURE_LEN:
        raise InvalidSignature("an Ed25519 signature is 64 bytes")
    try:
        crypto_sign_open(signature + message, key.public_bytes_raw())
    except BadSignatureError:
        raise InvalidSignature("signature does not verify") from None


@lru_cache(maxsize=4096)
def _secret(seed: bytes) -> bytes:
    """libsodium's 64-byte secret key for a 32-byte seed (one per device key in a fleet)."""
    return crypto_sign_seed_keypair(seed)[1]
