"""`flip keys` and `flip packet` as users run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flip.packet import open_frame, seal
from tests.flip.packet import run as _run

TEXT = "ဆရာက ကျွန်တော့်လစာကို သုံးလကြာ မပေးသေးပါ။"


@pytest.fixture
def keydir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    d = tmp_path / "keys"
    status, shore = _run(
        capsys, "keys", "new", "--role", "shore", "--name", "shore", "--dir", str(d)
    )
    assert status == 0
    assert set(shore) >= {"sign_private", "sign_public", "seal_private", "seal_public"}
    status, vessel = _run(
        capsys, "keys", "new", "--role", "vessel", "--name", "mv", "--dir", str(d)
    )
    assert status == 0
    assert "seal_private" not in vessel
    assert (Path(vessel["sign_private"]).stat().st_mode & 0o777) == 0o600
    return d


def test_seal_open_inspect(
    keydir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "frame.bin"
    when = ("--time", "2026-11-20T10:00:00Z")
    status, sealed = seal(capsys, keydir, out, "--text", TEXT, "--seq", "9", *when)
    assert status == 0
    assert sealed["bytes"] == out.stat().st_size <= 340
    assert TEXT.encode() not in out.read_bytes()
    status, opened = open_frame(capsys, keydir, out)
    assert status == 0
    (msg,) = opened["messages"]
    assert msg == {
        "kind": "grievance",
        "seq": 9,
        "time": "2026-11-20T10:00:00Z",
        "category": "0x17",
        "category_label": "withholding of wages",
        "lang": "my",
        "text": TEXT,
        "pseudonym": None,
    }
    status, inspected = _run(capsys, "packet", "inspect", str(out))
    assert inspected["messages"][0]["kind"] == "crew"
    assert inspected["kid"] == sealed["kid"]


def test_errors_are_one_line_and_json(
    keydir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "f.bin"
    status, err = seal(capsys, keydir, out, lang="xx")
    assert status == 1
    assert "unknown language" in err["error"]
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x84\x43\xa1\x01\x27")
    status, err = _run(capsys, "packet", "inspect", str(garbage))
    assert status == 1
    assert err["error"].startswith("Truncated")
    status, err = _run(
        capsys, "keys", "new", "--role", "shore", "--name", "shore", "--dir", str(keydir)
    )
    assert status == 1
    assert "refusing to overwrite" in err["error"]


def test_frame_from_another_vessel_is_refused(
    keydir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "f.bin"
    assert seal(capsys, keydir, out, category="0xF1", lang="en")[0] == 0
    status, err = open_frame(capsys, keydir, out, sign_pub="shore-sign.pub.pem")
    assert status == 1
    assert err["error"].startswith("BadSignature")


def test_installed_command_runs(tmp_path: Path) -> None:
    flip = Path(sys.executable).parent / "flip"
    proc = subprocess.run(
        [
            str(flip),
            "keys",
            "new",
            "--role",
            "vessel",
            "--name",
            "v",
            "--dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kid"]


def test_describe_shows_declared_lost_seqs_only_when_present() -> None:
    from flip.packet import describe
    from protocol.messages import Heartbeat, LostRange

    hb = Heartbeat(seq=9, time=0, queue_depth=1, last_seq=8, chain=bytes(8))
    assert "lost" not in describe(hb)
    declared = Heartbeat(
        seq=9,
        time=0,
        queue_depth=1,
        last_seq=8,
        chain=bytes(8),
        lost_count=3,
        lost=(LostRange(first=5, last=7, reason=1),),
    )
    got = describe(declared)
    assert got["lost_count"] == 3 and got["lost"] == [[5, 7, 1]]
