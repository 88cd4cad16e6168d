"""Keys: Ed25519 signing keys (vessel devices, shore) and the shore's X25519 sealing key.

PEM on disk: PKCS#8 for private keys, SubjectPublicKeyInfo for public keys. This module only
converts bytes ↔ key objects; reading and writing files is the caller's business (sans-IO).

The key id (``kid``) is the first :data:`KID_LEN` bytes of SHA-256 over the raw 32-byte public
key, so a frame signed by a device is recognised by any gateway where that public key is
registered. Four bytes, not two: with 1,000 vessels a 2-byte id space (65,536) would almost
surely hold collisions (birthday bound ≈ n²/2N ≈ 7.6 expected pairs); four bytes make that
≈ 1e-4, and the gateway still tries every key registered under a kid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocol.errors import LocalProtocolError

KID_LEN = 4

Rng: TypeAlias = Callable[[int], bytes]
PrivateKey: TypeAlias = Ed25519PrivateKey | X25519PrivateKey
PublicKey: TypeAlias = Ed25519PublicKey | X25519PublicKey

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw


def raw_public(key: PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 or X25519 public key."""
    return key.public_bytes(_RAW, _RAW_PUB)


def key_id(key: PublicKey | bytes) -> bytes:
    """Short key id: SHA-256(raw public key)[:4]."""
    raw = key if isinstance(key, bytes) else raw_public(key)
    return hashlib.sha256(raw).digest()[:KID_LEN]


def new_signing_key(rng: Rng) -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key from 32 bytes of the injected ``rng``."""
    return Ed25519PrivateKey.from_private_bytes(_seed(rng))


def new_sealing_key(rng: Rng) -> X25519PrivateKey:
    """A fresh X25519 sealing key from 32 bytes of the injected ``rng``."""
    return X25519PrivateKey.from_private_bytes(_seed(rng))


def _seed(rng: Rng) -> bytes:
    seed = rng(32)
    if len(seed) != 32:
        raise LocalProtocolError("rng must return exactly the number of bytes asked for")
    return seed


def private_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (protect the file, not the bytes)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_signing_key(pem: bytes) -> Ed25519PrivateKey:
    """Ed25519 private key from PKCS#8 PEM. Raises :class:`LocalProtocolError` otherwise."""
    key = _load_private(pem)
    if not isinstance(key, Ed25519PrivateKey):
        raise LocalProtocolError("not an Ed25519 private key")
    return key


def load_sealing_key(pem: bytes) -> X25519PrivateKey:
    """X25519 private key from PKCS#8 PEM. Raises :class:`LocalProtocolError` otherwise."""
    key = _load_private(pem)
    if not isinstance(key, X25519PrivateKey):
        raise LocalProtocolError("not an X25519 private key")
    return key


def load_verify_key(pem: bytes) -> Ed25519PublicKey:
    """Ed25519 public key from SubjectPublicKeyInfo PEM."""
    key = _load_public(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise LocalProtocolError("not an Ed25519 public key")
    return key


def load_seal_public(pem: bytes) -> X25519PublicKey:
    """X25519 public key from SubjectPublicKeyInfo PEM."""
    key = _load_public(pem)
    if not isinstance(key, X25519PublicKey):
        raise LocalProtocolError("not an X25519 public key")
    return key


def verify_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """Ed25519 public key from its 32 raw bytes (as carried in a key-rotation message)."""
    if len(raw) != 32:
        raise LocalProtocolError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def seal_public_from_raw(raw: bytes) -> X25519PublicKey:
    """X25519 public key from its 32 raw bytes."""
    if len(raw) != 32:
        raise LocalProtocolError("an X25519 public key is 32 bytes")
    return X25519PublicKey.from_public_bytes(raw)


def _load_private(pem: bytes) -> object:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"not a usable PEM private key: {exc}") from exc


def _load_public(pem: bytes) -> object:
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"not a usable PEM public key: {exc}") from exc
