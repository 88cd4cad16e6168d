"""The libsodium backend signs exactly as OpenSSL does and refuses what OpenSSL refuses."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature as OpenSSLInvalid
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from protocol import ed25519

seeds = st.binary(min_size=32, max_size=32)
messages = st.binary(max_size=400)


@given(seed=seeds, message=messages)
def test_same_signature_as_openssl(seed: bytes, message: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert ed25519.sign(key, message) == key.sign(message)


@given(seed=seeds, message=messages)
def test_each_verifies_the_others_signature(seed: bytes, message: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    ed25519.verify(key.public_key(), key.sign(message), message)
    key.public_key().verify(ed25519.sign(key, message), message)


@given(seed=seeds, message=messages, bit=st.integers(0, 64 * 8 - 1))
def test_a_flipped_signature_bit_is_refused_by_both(seed: bytes, message: bytes, bit: int) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    sig = bytearray(ed25519.sign(key, message))
    sig[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ed25519.InvalidSignature):
        ed25519.verify(key.public_key(), bytes(sig), message)
    with pytest.raises(OpenSSLInvalid):
        key.public_key().verify(bytes(sig), message)


@given(seed=seeds, other=seeds, message=messages)
def test_another_keys_signature_is_refused(seed: bytes, other: bytes, message: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    wrong = Ed25519PrivateKey.from_private_bytes(other)
    if wrong.public_key() == key.public_key():
        return
    with pytest.raises(ed25519.InvalidSignature):
        ed25519.verify(wrong.public_key(), ed25519.sign(key, message), message)


def test_a_changed_message_is_refused() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    sig = ed25519.sign(key, b"grievance")
    with pytest.raises(ed25519.InvalidSignature):
        ed25519.verify(key.public_key(), sig, b"grievancE")


@pytest.mark.parametrize("length", [0, 63, 65])
def test_a_signature_of_the_wrong_length_is_refused(length: int) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    with pytest.raises(ed25519.InvalidSignature):
        ed25519.verify(key.public_key(), bytes(length), b"x")


def test_rfc8032_test_vector_1() -> None:
    """RFC 8032 §7.1, TEST 1 (empty message)."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    sig = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert ed25519.sign(key, b"") == sig
    ed25519.verify(key.public_key(), sig, b"")
