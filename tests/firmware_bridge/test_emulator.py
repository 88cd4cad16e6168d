"""The emulator's I/O shell: DirectIP delivery queue and MT listener."""

from __future__ import annotations

import socket

import pytest

from firmware_bridge import directip as d
from firmware_bridge.driver import Modem
from firmware_bridge.emulator import Emulator, parse_hostport
from firmware_bridge.link import profile

from .conftest import IMEI, DirectIPReceiver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_delivery_retries_until_shore_is_up() -> None:
    port = free_port()
    with (
        Emulator(
            imei=IMEI, directip=("127.0.0.1", port), retry_initial_s=0.05, retry_max_s=0.2
        ) as emu,
        Modem.open(emu.device, timeout_s=2) as modem,
    ):
        for text in ("first", "second"):
            modem.write_text(text)
            assert modem.session().ok  # the satellite session succeeds regardless
        assert not emu.wait_delivered(1, timeout=0.3)
        assert emu.stats.attempts_failed >= 1 and emu.stats.pending == 2
        receiver = DirectIPReceiver(port=port)
        try:
            assert emu.wait_delivered(2, timeout=5)
            assert [m.payload for m in receiver.messages] == [b"first", b"second"]
            assert [m.header.momsn for m in receiver.messages] == [0, 1]
        finally:
            receiver.close()


def test_refused_confirmation_is_retried() -> None:
    receiver = DirectIPReceiver(accept=False)
    try:
        with (
            Emulator(imei=IMEI, directip=receiver.address, retry_initial_s=0.05) as emu,
            Modem.open(emu.device, timeout_s=2) as modem,
        ):
            modem.write_text("x")
            modem.session()
            assert not emu.wait_delivered(1, timeout=0.3)
            receiver.accept = True
            assert emu.wait_delivered(1, timeout=5)
    finally:
        receiver.close()


def send_mt(address: tuple[str, int], message: d.MTMessage) -> d.MTConfirmation:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(d.encode_mt(message))
        reader = d.DirectIPReader()
        frames: list[bytes] = []
        while not frames:
            frames = reader.receive_data(sock.recv(4096) or None)
        return d.decode_mt_confirmation(frames[0])


def test_mt_over_directip(receiver: DirectIPReceiver) -> None:
    with (
        Emulator(imei=IMEI, directip=receiver.address, mt_listen=("127.0.0.1", 0)) as emu,
        Modem.open(emu.device, timeout_s=2) as modem,
    ):
        assert emu.mt_address is not None
        header = d.MTHeader(client_message_id=5, imei=IMEI)
        conf = send_mt(emu.mt_address, d.MTMessage(header=header, payload=b"\r\nreply"))
        assert conf.ok and conf.status == 1 and conf.client_message_id == 5
        conf2 = send_mt(emu.mt_address, d.MTMessage(header=header, payload=b"two"))
        assert conf2.status == 2 and conf2.auto_id_reference != conf.auto_id_reference
        result = modem.session()
        assert result.mt_received and result.mt_queued == 1
        assert modem.read_mt() == b"\r\nreply"
        other = d.MTHeader(client_message_id=6, imei="300234010000000")
        assert send_mt(emu.mt_address, d.MTMessage(header=other, payload=b"x")).status == -2
        big = d.MTMessage(header=header, payload=bytes(271))
        assert send_mt(emu.mt_address, big).status == -3
        assert send_mt(emu.mt_address, d.MTMessage(header=header)).status == -4


def test_parse_hostport_and_profiles() -> None:
    assert parse_hostport("127.0.0.1:10800") == ("127.0.0.1", 10800)
    assert parse_hostport("[::1]:5") == ("::1", 5)
    for bad in ("nohost", ":80", "h:x", "h:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_hostport(bad)
    with pytest.raises(ValueError, match="unknown link profile"):
        profile("sunny")
    rough = profile("rough", seed=3)
    outcomes = [rough.session(0, 340).mo_status for _ in range(500)]
    assert 0.05 < sum(1 for c in outcomes if c) / 500 < 0.25
