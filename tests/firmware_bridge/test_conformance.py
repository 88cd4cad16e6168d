"""One conformance suite for "a modem link": our driver against the emulator on a pty (echo on,
echo off) and over pyserial ``socket://``; plus failure modes (silence, garbage, loop://)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from firmware_bridge.driver import Modem
from firmware_bridge.emulator import Emulator
from firmware_bridge.errors import (
    GarbledResponse,
    LinkBroken,
    LinkClosed,
    ModemError,
    ResponseTimeout,
    WriteRejected,
)
from firmware_bridge.link import Scripted
from firmware_bridge.modem import checksum
from firmware_bridge.status import OutcomeKind

from .conftest import IMEI, DirectIPReceiver, FakeModem

BINARY = (bytes([0x0D, 0x0A]) * 20 + b"AT+SBDIX\r" + bytes(range(256)) * 2)[:340]


@pytest.fixture
def modem(emulator: Emulator) -> Iterator[Modem]:
    m = Modem.open(emulator.device, timeout_s=2.0, session_timeout_s=5.0)
    m.initialise()
    yield m
    m.close()


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_probe(modem: Modem) -> None:
    info = modem.probe()
    assert info.imei == IMEI
    assert info.model.startswith("IRIDIUM 9600")
    assert len(info.revision) == 7
    assert info.signal == 5
    assert info.system_time is not None


def test_binary_mo_with_cr_lf_reaches_directip(
    modem: Modem, emulator: Emulator, receiver: DirectIPReceiver
) -> None:
    assert len(BINARY) == 340
    modem.write_mo(BINARY)
    result = modem.session()
    assert result.ok and result.momsn == 0 and result.mt_status == 0
    assert emulator.wait_delivered(1)
    assert receiver.messages[0].payload == BINARY
    assert receiver.messages[0].header.imei == IMEI
    assert modem.status().momsn == 1


def test_mt_with_cr_lf_and_ring(modem: Modem, emulator: Emulator) -> None:
    modem.enable_ring_alerts(True)
    payload = b"\r\nOK\r\n\x00\xff" * 30
    assert emulator.queue_mt(payload) == 1
    assert wait_for(modem.poll_ring)
    status = modem.status()
    assert status.ring_alert and status.mtmsn == -1
    result = modem.session(answer_ring=True)
    assert result.mt_received and result.mt_length == len(payload) and result.mt_queued == 0
    assert modem.read_mt() == payload
    modem.clear("mt")
    assert modem.read_mt() == b""


def test_text_write_and_clear(modem: Modem) -> None:
    modem.write_text("hello from the deck")
    assert modem.status().mo_flag
    modem.clear("mo")
    assert not modem.status().mo_flag
    with pytest.raises(ValueError, match="120"):
        modem.write_text("x" * 121)


def test_errors_and_unknown_commands(modem: Modem) -> None:
    with pytest.raises(ModemError):
        modem.command("+NOPE")
    with pytest.raises(ValueError, match=r"1\.\.340"):
        modem.write_mo(b"")
    with pytest.raises(ValueError, match="buffers"):
        modem.clear("all")
    assert modem.command("") == []


@pytest.mark.parametrize(
    "code", [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 32, 33, 34, 35, 36, 37, 38, 64, 65, 1, 2]
)
def test_every_session_result_code(receiver: DirectIPReceiver, code: int) -> None:
    with (
        Emulator(imei=IMEI, directip=receiver.address, link=Scripted([code])) as emu,
        Modem.open(emu.device, timeout_s=2.0) as modem,
    ):
        modem.write_mo(b"x")
        result = modem.session()
        assert result.mo_status == code
        if code <= 4:
            assert result.ok and emu.wait_delivered(1)
        else:
            assert result.mt_status == 2 and not result.ok
            assert result.outcome.kind in (
                OutcomeKind.RETRYABLE,
                OutcomeKind.FATAL,
                OutcomeKind.HARDWARE,
            )
            assert modem.status().momsn == 0


def test_momsn_wraps_over_the_link(modem: Modem, emulator: Emulator) -> None:
    emulator.machine.momsn = 65535
    modem.write_mo(b"a")
    assert modem.session().momsn == 65535
    assert modem.session().momsn == 0


def test_slow_byte_by_byte_host(emulator: Emulator, receiver: DirectIPReceiver) -> None:
    with Modem.open(emulator.device, timeout_s=3.0, pace_s=0.0005) as modem:
        modem.write_mo(BINARY[:60])
        assert modem.session().ok
    assert emulator.wait_delivered(1)
    assert receiver.messages[0].payload == BINARY[:60]


def test_modem_goes_silent_mid_response(modem: Modem, emulator: Emulator) -> None:
    emulator.mute_after(12)
    start = time.monotonic()
    with pytest.raises(ResponseTimeout) as info:
        modem.command("+CGMR", timeout_s=0.5)
    assert time.monotonic() - start < 2.0
    assert isinstance(info.value, LinkBroken)
    assert isinstance(info.value.__cause__, TimeoutError)


def test_sbdwb_timeout_in_the_modem(receiver: DirectIPReceiver) -> None:
    with (
        Emulator(imei=IMEI, directip=receiver.address, write_timeout_s=0.2) as emu,
        Modem.open(emu.device, timeout_s=2.0) as modem,
    ):
        modem._write(b"AT+SBDWB=20\r")  # and never send the data
        time.sleep(0.5)
        modem._port.timeout = 0.2
        got = modem._port.read(100)
        assert got.endswith(b"\r\nREADY\r\n\r\n1\r\n")
        assert modem.command("") == []


def test_closed_link() -> None:
    with Emulator(imei=IMEI) as emu:
        modem = Modem.open(emu.device)
        modem.close()
        with pytest.raises(LinkClosed):
            modem.signal()


def test_loop_url_is_a_modem_that_never_answers() -> None:
    with Modem.open("loop://", timeout_s=0.3) as modem, pytest.raises(LinkBroken):
        modem.signal()


def test_unopenable_port() -> None:
    with pytest.raises(LinkBroken):
        Modem.open("/dev/does-not-exist-flip")


@pytest.mark.parametrize(
    "reply",
    [
        b"\r\n+CSQ:9\r\n\r\nOK\r\n",  # out of range
        b"\x00\xff\xfe garbage \r\n\r\nOK\r\n",
        b"\r\n+SBDIX: 0, 1\r\n\r\nOK\r\n",
    ],
)
def test_garbage_answers_are_link_broken(reply: bytes) -> None:
    fake = FakeModem(lambda line: reply)
    try:
        with Modem.open(fake.device, timeout_s=0.5) as modem:
            with pytest.raises(GarbledResponse):
                modem.signal()
            with pytest.raises(GarbledResponse):
                modem.session()
    finally:
        fake.close()


def test_endless_garbage_without_line_ends() -> None:
    fake = FakeModem(lambda line: b"\xaa" * 9000)
    try:
        with Modem.open(fake.device, timeout_s=1.0) as modem, pytest.raises(LinkBroken):
            modem.signal()
    finally:
        fake.close()


@pytest.mark.parametrize("echo", [b"", b"AT+SBDRB\r"])
def test_ring_racing_sbdrb_is_taken_as_a_ring(echo: bytes) -> None:
    """A modem that was idle rings just as the host sends AT+SBDRB: the SBDRING lands right
    before the answer, and must not be read as the binary length ("SB" = 21314)."""
    payload = b"\r\nMT with CR LF\r\n"
    block = len(payload).to_bytes(2, "big") + payload + checksum(payload)
    fake = FakeModem(lambda line: b"SBDRING\r\n" + echo + block + b"\r\nOK\r\n")
    try:
        with Modem.open(fake.device, timeout_s=1.0) as modem:
            assert modem.read_mt() == payload
            assert modem.poll_ring()
    finally:
        fake.close()


def test_sbdrb_checksum_mismatch_is_garbled() -> None:
    fake = FakeModem(lambda line: b"\x00\x02hi\x00\x00\r\nOK\r\n")
    try:
        with Modem.open(fake.device, timeout_s=0.5) as modem, pytest.raises(GarbledResponse):
            modem.read_mt()
    finally:
        fake.close()


def test_sbdwb_rejections() -> None:
    answers = {b"AT+SBDWB=1": b"\r\nREADY\r\n"}

    def respond(line: bytes) -> bytes:
        return answers.get(line, b"")

    fake = FakeModem(respond)
    try:
        with Modem.open(fake.device, timeout_s=0.5) as modem:
            answers[b"AT+SBDWB=1"] = b"\r\n3\r\n\r\nOK\r\n"
            with pytest.raises(WriteRejected) as info:
                modem.write_mo(b"a")
            assert info.value.code == 3
    finally:
        fake.close()


async def _async_roundtrip(device: str) -> tuple[int, bool]:
    from firmware_bridge.driver import AsyncModem

    modem = await AsyncModem.open(device, timeout_s=2.0)
    try:
        await modem.initialise(echo=False)
        await modem.write_mo(b"async")
        result = await modem.session()
        return (await modem.probe()).signal, result.ok
    finally:
        await modem.close()


def test_async_wrapper(emulator: Emulator) -> None:
    import asyncio

    assert asyncio.run(_async_roundtrip(emulator.device)) == (5, True)
