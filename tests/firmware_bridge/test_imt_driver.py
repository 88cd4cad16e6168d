"""Our JSPR driver against the emulated 9704 on a pty, and against scripted misbehaving modems."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from firmware_bridge.emulator9704 import Emulator9704
from firmware_bridge.errors import (
    GarbledResponse,
    JSPRRefused,
    ResponseTimeout,
    TransferFailed,
)
from firmware_bridge.imt_driver import IMTDriver
from firmware_bridge.jspr import append_crc, b64
from firmware_bridge.link import NoService

from .conftest import FakeModem

IMEI = "300434060000001"


@pytest.fixture
def emu() -> Iterator[Emulator9704]:
    with Emulator9704(imei=IMEI, segment_timeout_s=2.0) as e:
        yield e


def test_begin_send_100000_bytes_and_receive(emu: Emulator9704) -> None:
    with IMTDriver.open(emu.device) as modem:
        info = modem.begin()
        assert info.imei == IMEI and info.api_version == (1, 6, 0) and info.iccid
        assert [t.topic_id for t in info.topics] == [244, 313]
        assert modem.signal() == 5
        payload = random.Random(1).randbytes(100_000)
        result = modem.send(payload, timeout_s=60)
        assert result.bytes == 100_000 and result.segments == 70
        assert emu.sent[-1].payload == payload
        reply = random.Random(2).randbytes(30_000)
        emu.queue_mt(reply, topic=313)
        message = modem.receive(timeout_s=10)
        assert message is not None and message.payload == reply and message.topic_id == 313
        assert modem.receive(timeout_s=0.1) is None


def test_begin_twice_is_harmless(emu: Emulator9704) -> None:
    with IMTDriver.open(emu.device) as modem:
        modem.begin()
        assert modem.begin().imei == IMEI


def test_unknown_topic_is_refused(emu: Emulator9704) -> None:
    with IMTDriver.open(emu.device) as modem:
        modem.begin()
        with pytest.raises(TransferFailed) as info:
            modem.send(b"x", topic=999)
        assert info.value.status == "subscription_invalid"


def test_no_service_ends_in_a_typed_failure() -> None:
    from firmware_bridge.imt import Topic

    topics = (Topic(topic_id=244, topic_name="RAW", discard_time_seconds=0),)
    with (
        Emulator9704(imei=IMEI, link=NoService(latency_s=0.05), topics=topics) as emu,
        IMTDriver.open(emu.device) as modem,
    ):
        modem.begin()
        assert modem.signal() == 0
        with pytest.raises(TransferFailed) as info:
            modem.send(b"grievance", timeout_s=10)
        assert info.value.status == "message_expired"


def test_silent_modem_times_out() -> None:
    fake = FakeModem(lambda line: b"")
    try:
        with IMTDriver.open(fake.device, timeout_s=0.3) as modem:
            start = time.monotonic()
            with pytest.raises(ResponseTimeout):
                modem.begin()
            assert time.monotonic() - start < 2
    finally:
        fake.close()


def test_refusal_carries_its_code() -> None:
    fake = FakeModem(lambda line: b"418 messageProvisioning {}\r")
    try:
        with IMTDriver.open(fake.device, timeout_s=1) as modem:
            with pytest.raises(JSPRRefused) as info:
                modem.topics()
            assert info.value.code == 418
    finally:
        fake.close()


def test_garbage_between_lines_is_skipped() -> None:
    answer = b'\x11\x00junk\r\n200 constellationState {"signal_bars":3}\r'
    fake = FakeModem(lambda line: answer)
    try:
        with IMTDriver.open(fake.device, timeout_s=1) as modem:
            assert modem.signal() == 3
            assert modem.errors  # the junk line was noted, not fatal
    finally:
        fake.close()


def test_bad_signal_field_is_garbled() -> None:
    fake = FakeModem(lambda line: b'200 constellationState {"signal_bars":9}\r')
    try:
        with IMTDriver.open(fake.device, timeout_s=1) as modem, pytest.raises(GarbledResponse):
            modem.signal()
    finally:
        fake.close()


def _mt_lines(message: bytes, mid: int = 7) -> bytes:
    ids = f'"topic_id":244,"message_id":{mid}'
    return (
        f'299 messageTerminate {{{ids},"message_length_max":{len(message)}}}\r'
        f'299 messageTerminateSegment {{{ids},"segment_length":{len(message)},'
        f'"segment_start":0,"data":"{b64(message)}"}}\r'
        f'299 messageTerminateStatus {{{ids},"final_mt_status":"complete"}}\r'
    ).encode()


def test_mt_with_a_bad_crc_is_not_delivered() -> None:
    lines = _mt_lines(b"hello world\x00\x00") + _mt_lines(append_crc(b"good"), mid=8)
    fake = FakeModem(lambda line: lines)
    try:
        with IMTDriver.open(fake.device, timeout_s=1) as modem:
            modem.unsolicited.clear()
            fake_poke = b"GET hwInfo {}\r"  # any line makes the fake write its MT lines
            modem._port.write(fake_poke)
            message = modem.receive(timeout_s=2)
            assert message is not None and message.payload == b"good"
            assert any(type(e).__name__ == "CRCMismatch" for e in modem.errors)
    finally:
        fake.close()


def test_segment_request_past_the_end_is_not_answered() -> None:
    def respond(line: bytes) -> bytes:
        if line.startswith(b"PUT messageOriginate "):
            return (
                b'200 messageOriginate {"topic_id":244,"message_id":3,'
                b'"message_response":"message_accepted"}\r'
                b'299 messageOriginateSegment {"topic_id":244,"message_id":3,'
                b'"segment_length":1000,"segment_start":0}\r'
            )
        return b""

    fake = FakeModem(respond)
    try:
        with IMTDriver.open(fake.device, timeout_s=1) as modem:
            with pytest.raises(ResponseTimeout):
                modem.send(b"short", timeout_s=0.5)
            assert any("past the end" in str(e) for e in modem.errors)
    finally:
        fake.close()
