"""Reply keys derived from a receipt code, for crew who have nothing but the code.

A grievance submitted at the terminal, on the box's screen or with ``flip vessel submit`` gets
a reply key the crew member can re-create from the receipt code alone:

    M   = scrypt(code, device receipt salt, N=2¹⁰, r=8, p=1, 64 bytes)   (memory-hard, 1 MiB)
    M[:16]                                  is the stored receipt hash (vessel_agent.receipt)
    key = HKDF-SHA256(M[16:], salt = 16 random bytes of this message, info = INFO)  → X25519

The receipt's own scrypt run gives both (PBKDF2, scrypt's last step, makes each 32-byte block
independently, so the first 16 bytes are exactly the receipt hash as it always was). The agent
keeps the per-message salt, never the private key; the public key travels only inside the
sealed grievance.

Why not a separate, heavier KDF (Argon2id, 64 MiB): the outbox already holds the receipt hash,
so whoever copies the disk can search the 10¹⁰ codes against it — one scrypt per code, for every
receipt of the device at once (one device-wide salt). A reply key costing more per guess would
not be reached that way; it would cost ~0.2 s per submit (the agent's budget is 5 ms) and
protect nothing more. The reply key is therefore exactly as strong as the receipt, no weaker,
and strengthening the receipt hash (docs/threat-model.md) strengthens both. The settings are
stored with each salt, so a later, stronger derivation leaves old keys derivable.

The crew app on a phone derives the same key in the page: it reserves a code first (the agent
sends it the code, the device salt and N, sealed), picks the per-message salt, and sends the salt
and the public half with the grievance; the agent checks that they match. The phone can then
open the shore's answers itself, and the code alone still opens them anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol import keys
from protocol.errors import LocalProtocolError
from vessel_agent import receipt

SALT_LEN = 16
INFO = b"flip-sync/1 reply key"
#: The derivation's name and settings, stored with each salt.
KDF = "scrypt-hkdf"
MATERIAL_LEN = 64


def material(code: str, device_salt: bytes, n: int = receipt.SCRYPT_N) -> bytes:
    """The receipt's scrypt output, 64 bytes; ``[:HASH_LEN]`` is :func:`receipt.code_hash`.

    Raises:
        ReceiptError: not a 10-digit code.
    """
    return receipt.code_hash(code, device_salt, n, dklen=MATERIAL_LEN)


def from_material(mat: bytes, salt: bytes) -> X25519PrivateKey:
    """The reply key from the receipt's scrypt output and this message's salt."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=INFO).derive(
        mat[receipt.HASH_LEN :]
    )
    return X25519PrivateKey.from_private_bytes(raw)


def new(mat: bytes, rng: Callable[[int], bytes]) -> tuple[bytes, bytes]:
    """(salt, raw public key) of a fresh reply key, from the receipt's scrypt output."""
    return given(mat, rng(SALT_LEN))


def given(mat: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """(salt, raw public key) of the reply key with a salt chosen elsewhere — by the crew
    member's phone, which derives the same key itself from the code (the crew app).

    Raises:
        LocalProtocolError: the salt is not :data:`SALT_LEN` bytes.
    """
    if len(salt) != SALT_LEN:
        raise LocalProtocolError(f"a reply key's salt has {SALT_LEN} bytes")
    return salt, keys.raw_public(from_material(mat, salt).public_key())
