"""`flip bridge` end to end: emulate as a subprocess, send a 340-byte binary payload, receive it
as DirectIP MO in this test (the issue's done-criterion)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flip.cli import main

from .conftest import IMEI, DirectIPReceiver

FLIP = [sys.executable, "-m", "flip"]


@pytest.mark.slow
def test_emulate_probe_send_end_to_end(tmp_path: Path, receiver: DirectIPReceiver) -> None:
    host, port = receiver.address
    with subprocess.Popen(
        [
            *FLIP,
            "bridge",
            "emulate",
            "--imei",
            IMEI,
            "--directip",
            f"{host}:{port}",
            "--mt-listen",
            "127.0.0.1:0",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as emulate:
        try:
            _drive(emulate, tmp_path, receiver)
        finally:
            emulate.send_signal(signal.SIGTERM)
            assert emulate.wait(timeout=10) == 0


def _drive(emulate: subprocess.Popen[str], tmp_path: Path, receiver: DirectIPReceiver) -> None:
    assert emulate.stdout is not None
    ready = json.loads(emulate.stdout.readline())
    assert ready["imei"] == IMEI and ready["device"].startswith("/dev/")
    assert ready["mt_listen"].startswith("127.0.0.1:")

    probe = subprocess.run(
        [*FLIP, "bridge", "probe", ready["device"], "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout)["imei"] == IMEI

    payload = (bytes(range(256)) + b"\r\n\r\n" * 21)[:340]
    assert len(payload) == 340 and b"\r\n" in payload
    (tmp_path / "p.bin").write_bytes(payload)
    send = subprocess.run(
        [*FLIP, "bridge", "send", ready["device"], "--file", str(tmp_path / "p.bin"), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert send.returncode == 0, send.stderr
    result = json.loads(send.stdout)
    assert result == {
        "bytes": 340,
        "mo_status": 0,
        "momsn": 0,
        "mt_length": 0,
        "mt_queued": 0,
        "mt_status": 0,
        "outcome": "success",
    }
    deadline_ok = _wait(lambda: len(receiver.messages) == 1)
    assert deadline_ok
    message = receiver.messages[0]
    assert message.payload == payload
    assert message.header.imei == IMEI and message.header.momsn == 0


def _wait(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_probe_bad_device_is_one_json_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "probe", "/dev/does-not-exist-flip", "--json"]) == 1
    captured = capsys.readouterr()
    assert "error" in json.loads(captured.out)
    assert captured.err.startswith("flip: error:")


def test_send_rejects_oversize_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "big.bin").write_bytes(bytes(341))
    assert main(["bridge", "send", "loop://", "--file", str(tmp_path / "big.bin"), "--json"]) == 1
    assert "341 bytes" in json.loads(capsys.readouterr().out)["error"]


def test_send_reports_failed_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from firmware_bridge.emulator import Emulator
    from firmware_bridge.link import Scripted

    (tmp_path / "m.bin").write_bytes(b"hi")
    with Emulator(imei=IMEI, link=Scripted([36])) as emu:
        status = main(["bridge", "send", emu.device, "--file", str(tmp_path / "m.bin"), "--json"])
    assert status == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert "36" in error and "retry in 180 s" in error


def test_emulate_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "emulate", "--imei", "123", "--directip", "h:1", "--json"]) == 1
    assert main(["bridge", "emulate", "--directip", "nope", "--json"]) == 1
    assert main(["bridge", "emulate", "--directip", "h:1", "--link", "x", "--json"]) == 1
    assert os.environ is not None
