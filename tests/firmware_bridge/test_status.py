"""SBDIX MO status → outcome table (ISU AT Command Reference, +SBDIX)."""

from __future__ import annotations

import pytest

from firmware_bridge.status import OutcomeKind, classify, msn_delta, next_msn

FIELD_CODES = [
    0,
    1,
    2,
    3,
    4,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    32,
    33,
    34,
    35,
    36,
    37,
    38,
    64,
    65,
]


@pytest.mark.parametrize("code", FIELD_CODES)
def test_every_documented_code_has_a_typed_outcome(code: int) -> None:
    outcome = classify(code)
    assert outcome.code == code
    assert outcome.text
    if outcome.kind is OutcomeKind.RETRYABLE:
        assert outcome.retry_after_s is not None and outcome.retry_after_s > 0
    else:
        assert outcome.retry_after_s is None


@pytest.mark.parametrize(
    ("code", "kind", "retry"),
    [
        (0, OutcomeKind.SUCCESS, None),
        (2, OutcomeKind.SUCCESS, None),
        (12, OutcomeKind.FATAL, None),
        (14, OutcomeKind.FATAL, None),
        (16, OutcomeKind.FATAL, None),
        (33, OutcomeKind.HARDWARE, None),
        (34, OutcomeKind.HARDWARE, None),
        (36, OutcomeKind.RETRYABLE, 180.0),
        (32, OutcomeKind.RETRYABLE, 30.0),
        (35, OutcomeKind.RETRYABLE, 10.0),
        (17, OutcomeKind.RETRYABLE, 30.0),
        (18, OutcomeKind.RETRYABLE, 10.0),
        (13, OutcomeKind.RETRYABLE, 20.0),
        (7, OutcomeKind.RETRYABLE, 30.0),
        (99, OutcomeKind.RETRYABLE, 30.0),
    ],
)
def test_outcome_table(code: int, kind: OutcomeKind, retry: float | None) -> None:
    outcome = classify(code)
    assert (outcome.kind, outcome.retry_after_s) == (kind, retry)
    assert outcome.ok is (kind is OutcomeKind.SUCCESS)


def test_msn_wraps() -> None:
    assert next_msn(65535) == 0
    assert next_msn(7) == 8
    assert msn_delta(2, 65534) == 4
