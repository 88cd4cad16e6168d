"""The tail explainer replays the very run the report describes, and its no-gap latency sits
between the oracle and what happened."""

from __future__ import annotations

import pytest

from simulator.run import RunConfig, simulate
from simulator.scenario import load
from simulator.tail import Row, explain

LINE = 190.0


@pytest.fixture(scope="module")
def run() -> tuple[dict[str, object], list[Row], dict[str, object]]:
    sc = load("monsoon")
    # A run with grievances above the line that are not forced (docs/simulator.md, the table).
    report, _ = simulate(sc, RunConfig(vessels=50, days=14.0, seed=3, workers=1))
    tail = explain(sc, 50, 14.0, 3)
    return report["summary"], tail.rows, tail.summary()


def test_the_replay_is_the_reported_run(
    run: tuple[dict[str, object], list[Row], dict[str, object]],
) -> None:
    summary, rows, tail = run
    assert tail["grievances"] == summary["delivered"] == len(rows)
    assert tail["ratio"] == summary["latency_p95_vs_oracle"]
    assert tail["tail_slots"] == summary["tail_slots"]
    assert tail["tail_forced"] == summary["tail_forced"]


def test_no_gap_lies_between_the_oracle_and_the_actual_latency(
    run: tuple[dict[str, object], list[Row], dict[str, object]],
) -> None:
    _, rows, tail = run
    assert all(r.oracle <= r.no_gap <= r.actual for r in rows)
    assert float(str(tail["no_gap_ratio"])) <= float(str(tail["ratio"]))


def test_every_grievance_above_the_line_has_one_cause(
    run: tuple[dict[str, object], list[Row], dict[str, object]],
) -> None:
    _, _, tail = run
    causes = tail["causes"]
    assert isinstance(causes, dict)
    assert causes
    assert sum(causes.values()) == tail["above_not_forced"]


def _row(**kw: float) -> Row:
    base = {"actual": 250.0, "oracle": 150.0, "no_gap": 170.0, "failures": 0, "waited": 0.0}
    base.update(kw)
    return Row(vessel=0, link="inmarsat-c", **base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("row", "cause"),
    [
        (_row(failures=1, no_gap=200.0), "failed session(s), above even with no gap"),
        (_row(no_gap=200.0), "one session, long jitter"),
        (_row(waited=35.0), "waited for the vessel's previous session"),
        (_row(failures=3), "back-off or told-to-wait"),
    ],
)
def test_causes(row: Row, cause: str) -> None:
    assert row.cause(LINE) == cause
