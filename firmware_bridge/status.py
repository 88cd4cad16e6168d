"""SBD session outcomes: the ``+SBDIX`` MO status codes mapped to what the caller should do.

Codes and meanings: *ISU AT Command Reference* (9602/9603), ``+SBDIX[A]`` — MO status values
0–4 mean the MO transfer succeeded; 5–8 and 19–31 are reserved failures; 10–15 are reported by
the gateway, 16–19 and 32–38, 64, 65 by the transceiver. Back-off values follow reference drivers
(IridiumSBD, pyiridium9602): a short wait for radio trouble, 3 minutes for code 36 ("wait 3
minutes since last registration"), longer for gateway-side throttling.

MOMSN/MTMSN are 16-bit counters that wrap 65535 → 0 (same reference, ``<MOMSN>``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OutcomeKind(enum.Enum):
    """What a session's MO status means for the sender."""

    SUCCESS = "success"
    RETRYABLE = "retryable"
    FATAL = "fatal"  # the same MO will never go: fix the message or the modem
    HARDWARE = "hardware"  # antenna, radio or synthesiser fault: needs a person


class MOStatus(enum.IntEnum):
    """Named ``+SBDIX`` MO status codes (the ones with a defined meaning)."""

    OK = 0
    OK_MT_TOO_BIG = 1
    OK_LOCATION_REJECTED = 2
    CALL_TIMEOUT = 10
    GATEWAY_QUEUE_FULL = 11
    TOO_MANY_SEGMENTS = 12
    SESSION_INCOMPLETE = 13
    INVALID_SEGMENT_SIZE = 14
    ACCESS_DENIED = 15
    MODEM_LOCKED = 16
    GATEWAY_NOT_RESPONDING = 17
    RF_DROP = 18
    LINK_FAILURE = 19
    NO_NETWORK = 32
    ANTENNA_FAULT = 33
    RADIO_DISABLED = 34
    BUSY = 35
    REGISTRATION_WAIT = 36
    SBD_DISABLED = 37
    TRAFFIC_MANAGEMENT = 38
    BAND_VIOLATION = 64
    PLL_LOCK_FAILURE = 65


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The typed meaning of one MO status code."""

    code: int
    kind: OutcomeKind
    retry_after_s: float | None  # None unless RETRYABLE
    text: str

    @property
    def ok(self) -> bool:
        """True when the MO message (if any) reached the gateway."""
        return self.kind is OutcomeKind.SUCCESS


_TEXT = {
    0: "MO transferred",
    1: "MO transferred; queued MT too big",
    2: "MO transferred; location update rejected",
    10: "call did not complete in time",
    11: "gateway MO queue full",
    12: "MO message has too many segments",
    13: "session did not complete",
    14: "invalid segment size",
    15: "access denied",
    16: "transceiver locked",
    17: "gateway not responding",
    18: "connection lost (RF drop)",
    19: "link failure (protocol error)",
    32: "no network service",
    33: "antenna fault",
    34: "radio disabled",
    35: "transceiver busy",
    36: "wait 3 minutes since last registration",
    37: "SBD service temporarily disabled",
    38: "traffic management period",
    64: "band violation",
    65: "PLL lock failure",
}

#: Seconds to wait before the next attempt, per retryable code.
RETRY_AFTER_S: dict[int, float] = {
    10: 20.0,
    11: 60.0,
    13: 20.0,
    15: 600.0,  # provisioning: may be fixed ashore, so retried, slowly
    17: 30.0,
    18: 10.0,
    19: 10.0,
    32: 30.0,
    35: 10.0,
    36: 180.0,
    37: 300.0,
    38: 180.0,
    64: 60.0,
}
FATAL_CODES = frozenset({12, 14, 16})
HARDWARE_CODES = frozenset({33, 34, 65})
DEFAULT_RETRY_S = 30.0


def classify(code: int) -> Outcome:
    """Map an ``+SBDIX`` MO status to an :class:`Outcome` (unknown codes: retryable, 30 s)."""
    if 0 <= code <= 4:
        return Outcome(
            code=code,
            kind=OutcomeKind.SUCCESS,
            retry_after_s=None,
            text=_TEXT.get(code, "MO transferred (reserved code)"),
        )
    if code in FATAL_CODES:
        return Outcome(code=code, kind=OutcomeKind.FATAL, retry_after_s=None, text=_TEXT[code])
    if code in HARDWARE_CODES:
        return Outcome(code=code, kind=OutcomeKind.HARDWARE, retry_after_s=None, text=_TEXT[code])
    return Outcome(
        code=code,
        kind=OutcomeKind.RETRYABLE,
        retry_after_s=RETRY_AFTER_S.get(code, DEFAULT_RETRY_S),
        text=_TEXT.get(code, "reserved failure code"),
    )


def next_msn(msn: int) -> int:
    """The sequence number after ``msn`` (16-bit, wraps 65535 → 0)."""
    return (msn + 1) & 0xFFFF


def msn_delta(newer: int, older: int) -> int:
    """How many steps ``newer`` is ahead of ``older`` on the 16-bit circle (0..65535)."""
    return (newer - older) & 0xFFFF
