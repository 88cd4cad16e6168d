"""`flip sim` as a subprocess, the CONTRACTS.md way (--json: one object on stdout)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REQUIRED = (
    "created",
    "delivered",
    "lost",
    "duplicates_surfaced",
    "latency_p50_s",
    "latency_p95_s",
    "oracle_p95_s",
    "bytes_on_air",
    "bytes_needed",
    "credits",
    "wall_s",
)


def _flip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flip", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_sim_run_json_writes_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = _flip(
        "sim",
        "run",
        "--scenario",
        "calm",
        "--vessels",
        "3",
        "--days",
        "2",
        "--seed",
        "5",
        "--out",
        str(out),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    for key in REQUIRED:
        assert key in result
    assert result["lost"] == 0 and result["duplicates_surfaced"] == 0
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["created"] == result["created"]
    for png in ("latency_cdf.png", "queue_depth.png", "bytes_credits.png", "link_strips.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sim_scenarios_json() -> None:
    p = _flip("sim", "scenarios", "--json")
    assert p.returncode == 0, p.stderr
    names = [s["name"] for s in json.loads(p.stdout)["scenarios"]]
    assert {"calm", "monsoon", "dark-vessel", "provider-outage", "fleet-1000"} <= set(names)


def test_bad_scenario_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("vessels = -1\n")
    p = _flip("sim", "run", "--scenario", str(bad), "--out", str(tmp_path / "o"), "--json")
    assert p.returncode != 0
    assert json.loads(p.stdout) == {"error": p.stderr.strip().removeprefix("flip: error: ")}
    assert "vessels" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = _flip("sim", "run", "--scenario", "atlantis", "--json")
    assert p.returncode != 0 and "not a built-in" in json.loads(p.stdout)["error"]
