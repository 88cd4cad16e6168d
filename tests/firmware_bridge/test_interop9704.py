"""Interop: Ground Control's own RockBLOCK 9704 library (PyPI ``rockblock9704``, C inside)
drives the emulated 9704 unchanged: begin, signal, identity, send on two topics, receive an MT.

The library holds the GIL while it blocks on the port (its C calls do not release it), so it
runs in a child process; the emulator runs here. A child that hangs (the library's blocking
receive never returns when an MT status is lost) is killed by the timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from firmware_bridge.emulator9704 import Emulator9704
from firmware_bridge.lingo import parse_lingo_mo

from .conftest import WebhookReceiver

pytest.importorskip("rockblock9704")

IMEI = "300434060000001"

CHILD = textwrap.dedent("""
    import json, sys, time
    from rockblock9704 import RockBlock9704
    rb = RockBlock9704()
    out = {"begin": rb.begin(sys.argv[1])}
    out["signal"] = rb.get_signal()
    out["imei"] = rb.get_imei()
    out["iccid"] = rb.get_iccid()
    out["firmware"] = rb.get_firmware_version()
    out["send_raw"] = rb.send_message(bytes(range(256)) * 40)
    out["send_313"] = rb.send_message(b"hello purple", topic=313)
    out["send_unprovisioned"] = rb.send_message(b"nobody listens", topic=4000)
    print(json.dumps(out), flush=True)
    sys.stdin.readline()  # the test queues an MT, then lets us read it
    message = None
    for _ in range(100):
        message = rb.receive_message()
        if message:
            break
        time.sleep(0.05)
    print(json.dumps({"mt": message.hex() if message else None}), flush=True)
""")


def _child(device: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, device],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _drive(child: subprocess.Popen[str], emu: Emulator9704, mt_size: int) -> None:
    assert child.stdout is not None and child.stdin is not None
    first = json.loads(child.stdout.readline())
    assert first == {
        "begin": True,
        "signal": 5,
        "imei": IMEI,
        "iccid": emu.machine.iccid,
        "firmware": "v1.6.0",
        "send_raw": True,
        "send_313": True,
        "send_unprovisioned": False,
    }
    reply = bytes(i % 251 for i in range(mt_size))
    emu.queue_mt(reply)
    child.stdin.write("\n")
    child.stdin.flush()
    second = json.loads(child.stdout.readline())
    assert bytes.fromhex(second["mt"]) == reply
    assert child.wait(timeout=20) == 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mt_size", [340, 5000])
def test_library_drives_the_emulator(webhook: WebhookReceiver, mt_size: int) -> None:
    # MT segments of 1,083 bytes: the library copies each segment's base64 text into a
    # 1,447-byte buffer (jspr.h JSPR_MAX_SEGMENT_LENGTH), so bigger segments corrupt it.
    with Emulator9704(
        imei=IMEI,
        webhook=webhook.url,
        segment_timeout_s=2.0,
        mt_segment_size=1083,
        retry_initial_s=0.1,
    ) as emu:
        with _child(emu.device) as child:
            try:
                _drive(child, emu, mt_size)
            finally:
                child.kill()
        assert emu.wait_delivered(2)
    posted = [parse_lingo_mo(b) for b in webhook.bodies]
    assert [(m.topic, m.payload) for m in posted] == [
        (244, bytes(range(256)) * 40),
        (313, b"hello purple"),
    ]
    assert all(m.imei == IMEI and m.transport == "imt" for m in posted)
