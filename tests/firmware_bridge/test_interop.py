"""Interop: the third-party Adafruit RockBLOCK driver (PyPI adafruit-circuitpython-rockblock)
drives the emulator unchanged, through a plain pyserial Serial on the pty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serial
from adafruit_rockblock import RockBlock

from firmware_bridge.emulator import Emulator

from .conftest import IMEI, DirectIPReceiver


@pytest.fixture
def rockblock(receiver: DirectIPReceiver) -> Iterator[tuple[RockBlock, Emulator]]:
    with Emulator(imei=IMEI, directip=receiver.address) as emu:
        uart = serial.Serial(emu.device, 19200, timeout=2)
        try:
            yield RockBlock(uart), emu
        finally:
            uart.close()


def test_identity_and_signal(rockblock: tuple[RockBlock, Emulator]) -> None:
    rb, _ = rockblock
    assert rb.model == "IRIDIUM 9600 Family SBD Transceiver"
    assert rb.serial_number == IMEI
    assert rb.signal_quality == 5
    assert len(rb.revision) == 7
    assert rb.system_time is not None
    assert rb.ring_alert is True
    rb.ring_alert = False
    assert rb.ring_alert is False
    assert rb.ring_indication == ("000", "000", rb.ring_indication[2])


def test_send_binary_message(
    rockblock: tuple[RockBlock, Emulator], receiver: DirectIPReceiver
) -> None:
    rb, emu = rockblock
    payload = bytes(range(11, 250))  # no 0x0A/0x0D: the driver's readline-based reads need it
    rb.data_out = payload
    status = rb.satellite_transfer()
    assert status[0] == 0 and status[1] == 0
    assert emu.wait_delivered(1)
    assert receiver.messages[0].payload == payload
    assert rb.status[0] == 0  # the driver cleared the MO buffer after success (AT+SBDD0)


def test_text_loopback_and_data_in(rockblock: tuple[RockBlock, Emulator]) -> None:
    rb, _ = rockblock
    rb.text_out = "hello world"
    rb._transfer_buffer()  # AT+SBDTC: MO → MT buffer
    assert rb.text_in == "hello world"
    assert rb.data_in == b"hello world"


def test_location_session_and_mt(
    rockblock: tuple[RockBlock, Emulator], receiver: DirectIPReceiver
) -> None:
    rb, emu = rockblock
    rb.ring_alert = False
    emu.queue_mt(b"ack 42")
    rb.text_out = "position report"
    status = rb.satellite_transfer("5212.483,-00007.350")
    assert status[0] == 0 and status[2] == 1 and status[4] == 6
    assert rb.data_in == b"ack 42"
    assert emu.wait_delivered(1)
    loc = receiver.messages[0].location
    assert loc is not None and loc.west and abs(loc.latitude - 52.208) < 1e-3
