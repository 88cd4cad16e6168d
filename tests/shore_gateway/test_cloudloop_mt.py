"""The Cloudloop MT client against the emulated provider API of the 9704 emulator: the bytes a
vessel's driver receives are the bytes the shore sent."""

from __future__ import annotations

import asyncio

import pytest

from firmware_bridge.emulator9704 import Emulator9704
from firmware_bridge.imt_driver import IMTDriver
from protocol import links
from protocol.events import CaseStatusReceived, MessagesAcked
from protocol.messages import CaseStatus, encode_message
from shore_gateway.cloudloop import CloudloopError, CloudloopMT
from shore_gateway.db import Database
from shore_gateway.downlink import DownlinkSender, Route, RouteError, parse_route
from shore_gateway.models import Downlink
from shore_gateway.pipeline_api import ArrivalMeta
from tests.shore_gateway.ingest.helpers import SHORE, T0, Boat, pipeline_for


def test_mt_through_the_emulated_provider() -> None:
    with (
        Emulator9704(
            imei="300434060000001",
            api_listen=("127.0.0.1", 0),
            thing_id="thing-9",
            api_token="acct",
            segment_timeout_s=2.0,
        ) as emu,
        IMTDriver.open(emu.device) as modem,
    ):
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


def test_downlink_to_a_9704_goes_as_one_cloudloop_mt_frame(sqlite_db: Database) -> None:
    boat = Boat(sqlite_db, mt_url="cloudloop://thing-7")
    pipeline = pipeline_for(sqlite_db)
    for data in boat.grievance_frames(3):
        assert pipeline.ingest(data, ArrivalMeta(channel="cloudloop")).durable
    with sqlite_db.session() as s:
        s.add(
            Downlink(
                vessel_id=boat.vessel_id,
                kind="case_status",
                body=encode_message(CaseStatus(ref_seq=1, case_ref="C-3", status=2)),
            )
        )
    with (
        Emulator9704(
            imei=boat.imei,
            api_listen=("127.0.0.1", 0),
            thing_id="thing-7",
            api_token="acct",
            segment_timeout_s=2.0,
        ) as emu,
        IMTDriver.open(emu.device) as modem,
    ):
        modem.begin()
        assert emu.api_address is not None
        api = CloudloopMT("http://{}:{}".format(*emu.api_address), "acct")
        unconfigured = DownlinkSender(sqlite_db, SHORE.sign, timeout_s=2)
        assert asyncio.run(unconfigured.run_once()) == 0  # no Cloudloop API: retried later
        sender = DownlinkSender(sqlite_db, SHORE.sign, timeout_s=2, cloudloop=api)
        assert asyncio.run(sender.run_once()) == 1
        message = modem.receive(timeout_s=10)
        assert message is not None
    # one MT message, one downlink frame (the IMT size: no 270-byte SBD split)
    events = boat.session.handle_downlink(message.payload, T0, max_size=links.IMT.downlink)
    assert any(isinstance(e, MessagesAcked) and e.seqs == (1, 2, 3) for e in events)
    assert any(isinstance(e, CaseStatusReceived) for e in events)
    assert parse_route("cloudloop://thing-7") == Route("cloudloop", "thing-7")
    for bad in ("cloudloop://", "cloudloop://a/b"):
        with pytest.raises(RouteError):
            parse_route(bad)
