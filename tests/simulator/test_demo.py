"""`flip demo` as a newcomer runs it: everything starts, grievances reach the dashboard's API,
Ctrl-C (here: SIGINT) stops it cleanly; `--headless` prints the virtual-clock summary."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end_and_stops_on_sigint(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flip",
            "demo",
            "--dir",
            str(data),
            "--vessels",
            "3",
            "--http-port",
            "0",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["links"] == {
            "MV Demo 1": "sbd",
            "MV Demo 2": "sbd",
            "MV Demo 3": "sbd",
            "MV Demo IMT": "imt",  # a RockBLOCK 9704 on the Cloudloop webhook
            "MV Demo Broadband": "sbd+broadband",
        }
        assert info["crew_terminal"].startswith("flip vessel terminal --dir ")
        base = info["dashboard"].rsplit("/", 1)[0]
        staff = {"Authorization": f"Bearer {info['staff_login']['token']}"}
        owner = {"Authorization": f"Bearer {info['owner_login']['token']}"}
        deadline = time.monotonic() + 120
        rows: list[dict] = []
        while time.monotonic() < deadline and len(rows) < info["submitted"]:
            time.sleep(1)
            rows = httpx.get(f"{base}/api/grievances", headers=staff, timeout=10).json()
        assert len(rows) == info["submitted"]
        assert {r["lang"] for r in rows} >= {"my", "th", "km", "en"}
        assert {r["vessel"] for r in rows} >= {"MV Demo IMT", "MV Demo Broadband"}
        cases = httpx.get(f"{base}/api/cases", headers=owner, timeout=10).json()
        assert cases
        assert all("text" not in c for c in cases)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    # a second run replaces the directory cleanly
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "flip",
            "demo",
            "--dir",
            str(data),
            "--vessels",
            "1",
            "--http-port",
            "0",
            "--duration",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-2000:]


def test_demo_refuses_a_directory_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    proc = subprocess.run(
        [sys.executable, "-m", "flip", "demo", "--dir", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "not a flip demo directory" in json.loads(proc.stdout)["error"]
    assert (tmp_path / "precious.txt").exists()


def test_headless_demo_prints_the_summary() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flip",
            "demo",
            "--headless",
            "--vessels",
            "3",
            "--days",
            "2",
            "--seed",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["created"] == summary["delivered"] > 0
    assert summary["lost"] == 0
    assert summary["duplicates_surfaced"] == 0
