"""The Cloudloop MT client against the emulated provider API of the 9704 emulator: the bytes a
vessel's driver receives are the bytes the shore sent."""

from __future__ import annotations

import asyncio

import pytest

from firmware_bridge.emulator9704 import Emulator9704
from firmware_bridge.imt_driver import IMTDriver
from shore_gateway.cloudloop import CloudloopError, CloudloopMT


def test_mt_through_the_emulated_provider() -> None:
    with Emulator9704(imei="300434060000001", api_listen=("127.0.0.1", 0), thing_id="thing-9",
                      api_token="acct", segment_timeout_s=2.0) as emu, \
            IMTDriver.open(emu.device) as modem:
        modem.begin()
        assert emu.api_address is not None
        api = CloudloopMT("http://{}:{}/".format(*emu.api_address), "acct")
        payload = bytes(range(256)) * 390  # 99,840 bytes: near the IMT limit
        message_id = asyncio.run(api.send("thing-9", payload, topic=313))
        received = modem.receive(timeout_s=20)
        assert received is not None and received.payload == payload and received.topic_id == 313
        assert asyncio.run(api.status(message_id)) == "delivered"
        with pytest.raises(CloudloopError) as refused:
            asyncio.run(CloudloopMT(api.api, "wrong").send("thing-9", b"x"))
        assert refused.value.status == 401
        with pytest.raises(CloudloopError):
            asyncio.run(api.send("no-such-thing", b"x"))
        with pytest.raises(ValueError, match=r"1\.\.100000 bytes"):
            asyncio.run(api.send("thing-9", b""))
    with pytest.raises(CloudloopError):  # provider unreachable
        asyncio.run(api.send("thing-9", b"x"))
