"""Receipt codes: the only link between a crew member and their message.

A receipt is 10 random digits shown as ``12345-67890`` — digits because every crew language's
speakers read Western digits on payslips and phones, and they survive being written on a hand or
a cigarette packet. The device stores only ``scrypt(code, device salt)`` mapped to the message's
seq, so reading the database does not yield codes. Scrypt (RFC 7914, N=2¹⁰, r=8 — about 3 ms
and 1 MiB here) makes an offline search of the 10¹⁰ codes cost CPU-months rather than seconds;
online guessing at the terminal is throttled by :class:`Throttle`.

Randomness is injected (``rng(n) -> bytes``); the I/O layer passes :func:`secrets.token_bytes`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from vessel_agent.errors import LookupLocked, ReceiptError

DIGITS = 10
SCRYPT_N = 2**10
SCRYPT_R = 8
HASH_LEN = 16


def new_code(rng: Callable[[int], bytes]) -> str:
    """A fresh receipt code, ``DDDDD-DDDDD`` (bias below 2⁻³⁰: 64 random bits mod 10¹⁰)."""
    value = int.from_bytes(rng(8), "big") % 10**DIGITS
    digits = f"{value:0{DIGITS}d}"
    return f"{digits[:5]}-{digits[5:]}"


def normalize(text: str) -> str:
    """What the crew typed → canonical ``DDDDD-DDDDD``; spaces, dashes and dots are ignored.

    Raises:
        ReceiptError: not exactly 10 digits.
    """
    digits = "".join(ch for ch in text if ch not in " -.\t")
    # Myanmar, Thai and Khmer digits are accepted too (str.isdigit + int()).
    try:
        if len(digits) != DIGITS or not all(ch.isdigit() for ch in digits):
            raise ValueError
        digits = "".join(str(int(ch)) for ch in digits)
    except ValueError:
        raise ReceiptError("a receipt code has 10 digits") from None
    return f"{digits[:5]}-{digits[5:]}"


def code_hash(code: str, salt: bytes, n: int = SCRYPT_N, dklen: int = HASH_LEN) -> bytes:
    """The stored form of a receipt code (normalised first). A longer ``dklen`` gives the same
    first bytes and more (scrypt ends in PBKDF2, whose output blocks are independent): the
    receipt-derived reply key uses the rest (:mod:`vessel_agent.replykey`)."""
    canon = normalize(code).encode("ascii")
    return hashlib.scrypt(canon, salt=salt, n=n, r=SCRYPT_R, p=1, dklen=dklen)


class Throttle:
    """Refuse lookups for a while after ``limit`` wrong codes in a row (injected clock)."""

    def __init__(self, limit: int = 5, pause_s: float = 60.0) -> None:
        self.limit = limit
        self.pause_s = pause_s
        self.failures = 0
        self.until = 0.0

    def check(self, now: float) -> None:
        """Raises :class:`LookupLocked` while paused."""
        if now < self.until:
            raise LookupLocked(f"too many wrong codes; wait {self.until - now:.0f} s")

    def record(self, ok: bool, now: float) -> None:
        if ok:
            self.failures = 0
            return
        self.failures += 1
        if self.failures >= self.limit:
            self.failures = 0
            self.until = now + self.pause_s
