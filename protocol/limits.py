"""Wire limits shared by every message module (docs/wire-format.md)."""

from __future__ import annotations

from protocol.errors import LocalProtocolError

U32 = 0xFFFF_FFFF
MAX_TEXT_CHARS = 2000
MAX_PSEUDONYM = 32
MAX_CASE_REF = 16
CHAIN_LEN = 8
MAX_SEALED = 8192
MAX_FRAGMENTS = 32
MAX_LOST_RANGES = 8
ZAWGYI_ELEMENT = 6  # grievance element of the Zawgyi note (after pseudonym and reply key)
REPLY_KEY_LEN = 32
MAX_SHORE_PARTS = 16
MAX_SHORE_CHUNK = 256
MAX_DELIVERED = 16


def check_seq(seq: int) -> None:
    """Refuse a seq outside the wire's range before it is encoded."""
    if not 1 <= seq <= U32:
        raise LocalProtocolError(f"seq {seq} outside 1..{U32}")
