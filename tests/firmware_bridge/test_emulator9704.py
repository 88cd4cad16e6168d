"""The 9704 emulator's outside surfaces: webhook delivery with Cloudloop-style retries, the
emulated provider API for MT, and `flip bridge emulate --model 9704`."""

from __future__ import annotations

import binascii
import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from firmware_bridge.emulator9704 import Emulator9704
from firmware_bridge.imt_driver import IMTDriver
from firmware_bridge.lingo import parse_lingo_mo

from .conftest import WebhookReceiver

IMEI = "300434060000001"


def test_webhook_retries_until_answered() -> None:
    hook = WebhookReceiver(fail=2)
    try:
        with (
            Emulator9704(
                imei=IMEI, webhook=hook.url, retry_initial_s=0.05, segment_timeout_s=2.0
            ) as emu,
            IMTDriver.open(emu.device) as modem,
        ):
            modem.begin()
            modem.send(b"first")
            modem.send(b"second")
            assert emu.wait_delivered(2)
            assert emu.stats.attempts_failed == 2
        assert [parse_lingo_mo(b).payload for b in hook.bodies] == [b"first", b"second"]
    finally:
        hook.close()


def test_provider_api_queues_mt_and_reports_status() -> None:
    with (
        Emulator9704(
            imei=IMEI, api_listen=("127.0.0.1", 0), thing_id="thing-1", segment_timeout_s=2.0
        ) as emu,
        IMTDriver.open(emu.device) as modem,
    ):
        modem.begin()
        assert emu.api_address is not None
        base = "http://{}:{}/Data".format(*emu.api_address)
        payload = bytes(range(256)) * 300
        good = {
            "token": emu.api_token,
            "thing": "thing-1",
            "topic": "244",
            "message": binascii.b2a_base64(payload, newline=False).decode(),
        }
        assert (
            httpx.post(f"{base}/DoSendImtMessage", data={**good, "token": "x"}).status_code == 401
        )
        assert (
            httpx.post(f"{base}/DoSendImtMessage", data={**good, "thing": "y"}).status_code == 404
        )
        assert (
            httpx.post(f"{base}/DoSendImtMessage", data={**good, "message": "%%"}).status_code
            == 400
        )
        reply = httpx.post(f"{base}/DoSendImtMessage", json=good)
        assert reply.status_code == 200
        message = modem.receive(timeout_s=10)
        assert message is not None and message.payload == payload
        status = httpx.get(
            f"{base}/GetMtDeliveryStatus",
            params={"token": emu.api_token, "message": reply.json()["id"]},
        )
        assert status.json()["status"] == "delivered"


@pytest.mark.slow
def test_cli_emulate_9704(webhook: WebhookReceiver) -> None:
    cmd = [
        sys.executable,
        "-m",
        "flip",
        "bridge",
        "emulate",
        "--model",
        "9704",
        "--imei",
        IMEI,
        "--webhook",
        webhook.url,
        "--segment-timeout",
        "2",
        "--json",
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            assert ready["model"] == "9704" and ready["imei"] == IMEI
            with IMTDriver.open(ready["device"]) as modem:
                modem.begin()
                modem.send(b"x" * 20_000)
            deadline = time.monotonic() + 10
            while not webhook.bodies and time.monotonic() < deadline:
                time.sleep(0.05)
            assert parse_lingo_mo(webhook.bodies[0]).payload == b"x" * 20_000
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0


def test_cli_refuses_9704_without_webhook(capsys: pytest.CaptureFixture[str]) -> None:
    from flip.cli import main

    assert main(["bridge", "emulate", "--model", "9704", "--json"]) != 0
    assert "--webhook" in "".join(capsys.readouterr())
    assert main(["bridge", "emulate", "--json"]) != 0  # 9603 still needs --directip


def test_cli_probe_and_send_9704(webhook: WebhookReceiver, tmp_path: object) -> None:
    from pathlib import Path

    from flip.cli import main

    assert isinstance(tmp_path, Path)
    with Emulator9704(imei=IMEI, webhook=webhook.url, segment_timeout_s=2.0) as emu:
        assert main(["bridge", "probe", emu.device, "--model", "9704", "--json"]) == 0
        payload = tmp_path / "voice.bin"
        payload.write_bytes(bytes(range(256)) * 200)
        assert (
            main(
                ["bridge", "send", emu.device, "--model", "9704", "--file", str(payload), "--json"]
            )
            == 0
        )
        assert emu.wait_delivered(1)
        assert emu.sent[0].payload == payload.read_bytes()
        payload.write_bytes(b"")
        assert main(["bridge", "send", emu.device, "--model", "9704", "--file", str(payload)]) != 0
