"""`flip gateway …` as subprocesses with --json (CONTRACTS.md)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.shore_gateway.conftest import make_pub_pem


def flip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flip", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_vessel_add(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    pub = tmp_path / "v.pub"
    pub.write_bytes(make_pub_pem())
    args = ["vessel", "add", "--db", db, "--name", "Sea One", "--imei", "300234010753370"]
    r = flip(*args, "--sign-pub", str(pub), "--owner", "acme", "--imo", "9074729", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["name"] == "Sea One" and len(out["kid"]) == 8
    again = flip(*args, "--sign-pub", str(pub), "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout)["error"] == "vessel 'Sea One' is already registered"
    assert again.stderr.count("\n") == 1
    bad = flip(
        *args[:-2],
        "--imei",
        "300234010753371",
        "--name",
        "X",
        "--sign-pub",
        str(tmp_path / "none"),
        "--json",
    )
    assert bad.returncode == 1 and "cannot read --sign-pub" in json.loads(bad.stdout)["error"]
    notkey = tmp_path / "k.pub"
    notkey.write_text("hello")
    bad = flip(
        "vessel",
        "add",
        "--db",
        db,
        "--name",
        "Y",
        "--imei",
        "300234010753372",
        "--sign-pub",
        str(notkey),
        "--json",
    )
    assert bad.returncode == 1 and "public key" in json.loads(bad.stdout)["error"]


@pytest.mark.slow
def test_user_add(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    u = flip("user", "add", "--db", db, "--name", "ann", "--role", "staff", "--json")
    assert u.returncode == 0, u.stderr
    assert len(json.loads(u.stdout)["token"]) >= 32
    o = flip("user", "add", "--db", db, "--name", "olga", "--role", "owner", "--json")
    assert o.returncode == 1 and "--owner" in json.loads(o.stdout)["error"]
    b = flip("user", "add", "--db", "nonsense://", "--name", "x", "--role", "staff", "--json")
    assert b.returncode == 1 and json.loads(b.stdout)["error"]


@pytest.mark.slow
def test_serve_ready_line_and_clean_stop(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    keys = tmp_path / "keys"
    keys.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flip",
            "gateway",
            "serve",
            "--db",
            db,
            "--http",
            "127.0.0.1:0",
            "--directip",
            "127.0.0.1:0",
            "--keys",
            str(keys),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["status"] == "ready"
        r = httpx.get(ready["http"] + "/healthz", timeout=10)
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_serve_on_a_port_in_use_is_one_line_and_status_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "flip",
                "gateway",
                "serve",
                "--db",
                f"sqlite:///{tmp_path / 'g.sqlite3'}",
                "--http",
                f"127.0.0.1:{port}",
                "--no-directip",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == [f"flip: error: cannot listen on 127.0.0.1:{port}: address already in use"], (
        r.stderr
    )
    assert "Traceback" not in r.stdout + r.stderr
