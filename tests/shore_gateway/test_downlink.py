"""Downlink: what goes to whom (no sockets), then real DirectIP MT to an emulated modem's
gateway queue, retried with back-off until confirmed."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from sqlmodel import select

from firmware_bridge.emulator import Emulator
from protocol import frame
from protocol.events import CaseStatusReceived, MessagesAcked
from protocol.messages import CaseStatus, encode_message
from shore_gateway.db import Database
from shore_gateway.downlink import (
    DownlinkSender,
    RetrySchedule,
    Route,
    RouteError,
    due_vessels,
    mark_confirmed,
    parse_route,
    plan,
)
from shore_gateway.models import DeviceState, Downlink
from shore_gateway.pipeline_api import ArrivalMeta
from tests.shore_gateway.ingest.helpers import SHORE, T0, Boat, pipeline_for


def _arrive(db: Database, boat: Boat, n: int = 1) -> None:
    pipeline = pipeline_for(db)
    for data in boat.grievance_frames(n):
        assert pipeline.ingest(data, ArrivalMeta(channel="cli")).durable


def test_parse_route() -> None:
    assert parse_route("directip://10.0.0.1:10801") == Route("directip", "10.0.0.1", 10801)
    assert parse_route("127.0.0.1:9") == Route("directip", "127.0.0.1", 9)
    assert parse_route("mqtt") == Route("mqtt")
    for bad in ("http://x:1", "directip://nohost", ""):
        with pytest.raises(RouteError):
            parse_route(bad)


def test_plan_signs_acks_and_queued_messages_for_the_live_device_key(db: Database) -> None:
    boat = Boat(db, mt_url="directip://127.0.0.1:1")
    quiet = Boat(db, "MV Quiet")
    _arrive(db, boat, 3)
    status = CaseStatus(ref_seq=1, case_ref="C-1", status=2)
    with db.session() as s:
        s.add(Downlink(vessel_id=boat.vessel_id, kind="case_status", body=encode_message(status)))
    with db.session() as s:
        assert due_vessels(s) == [boat.vessel_id]
        (batch,) = plan(
            s, [boat.vessel_id, quiet.vessel_id], sign_key=SHORE.sign, now=T0, default_route=None
        )
    assert batch.route == Route("directip", "127.0.0.1", 1)
    assert batch.imei == boat.imei and batch.ack_due and len(batch.downlink_ids) == 1
    assert all(len(f) <= frame.DOWNLINK_MAX for f in batch.frames)
    events = [e for f in batch.frames for e in boat.session.handle_downlink(f, T0)]
    acked = [e for e in events if isinstance(e, MessagesAcked)]
    assert acked and acked[0].seqs == (1, 2, 3)
    assert [e.status for e in events if isinstance(e, CaseStatusReceived)] == [status]


def test_many_queued_messages_split_into_frames_of_at_most_270_bytes(db: Database) -> None:
    boat = Boat(db)
    with db.session() as s:
        for i in range(20):
            body = encode_message(CaseStatus(ref_seq=i + 1, case_ref=f"CASE-{i:04}", status=1))
            s.add(Downlink(vessel_id=boat.vessel_id, kind="case_status", body=body))
    with db.session() as s:
        (batch,) = plan(s, due_vessels(s), sign_key=SHORE.sign, now=T0, default_route=Route("mqtt"))
    assert len(batch.frames) > 1
    assert all(len(f) <= frame.DOWNLINK_MAX for f in batch.frames)
    got = [e for f in batch.frames for e in boat.session.handle_downlink(f, T0)]
    assert len([e for e in got if isinstance(e, CaseStatusReceived)]) == 20


def test_ack_due_survives_an_arrival_between_plan_and_confirmation(sqlite_db: Database) -> None:
    boat = Boat(sqlite_db)
    _arrive(sqlite_db, boat)
    with sqlite_db.session() as s:
        (batch,) = plan(
            s, [boat.vessel_id], sign_key=SHORE.sign, now=T0, default_route=Route("mqtt")
        )
    _arrive(sqlite_db, boat)  # a new frame: its seq is not in the planned acks
    with sqlite_db.session() as s:
        mark_confirmed(s, batch)
    with sqlite_db.session() as s:
        state = s.get(DeviceState, boat.vessel_id)
        assert state is not None and state.ack_due
        (batch,) = plan(
            s, [boat.vessel_id], sign_key=SHORE.sign, now=T0, default_route=Route("mqtt")
        )
        mark_confirmed(s, batch)
    with sqlite_db.session() as s:
        state = s.get(DeviceState, boat.vessel_id)
        assert state is not None and not state.ack_due


def test_retry_schedule_backs_off_and_resets() -> None:
    r = RetrySchedule(initial_s=2, max_s=10)
    assert r.due(1, 0)
    assert [r.failed(1, 0) for _ in range(4)] == [2, 4, 8, 10]
    assert not r.due(1, 5) and r.due(1, 10) and r.due(2, 0)
    r.succeeded(1)
    assert r.due(1, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sender_retries_until_the_mt_gateway_confirms(sqlite_db: Database) -> None:
    port = _free_port()
    boat = Boat(sqlite_db, mt_url=f"directip://127.0.0.1:{port}")
    _arrive(sqlite_db, boat, 2)
    with sqlite_db.session() as s:
        body = encode_message(CaseStatus(ref_seq=1, case_ref="C-9", status=3))
        s.add(Downlink(vessel_id=boat.vessel_id, kind="case_status", body=body))
    sender = DownlinkSender(
        sqlite_db, SHORE.sign, schedule=RetrySchedule(initial_s=0.2, max_s=0.4), timeout_s=2
    )

    async def scenario() -> Emulator:
        assert await sender.run_once() == 0  # nobody listening yet
        assert sender.failures == 1
        assert await sender.run_once() == 0  # backing off: not even tried
        assert sender.failures == 1
        emulator = Emulator(imei=boat.imei, mt_listen=("127.0.0.1", port)).start()
        deadline = time.monotonic() + 10
        while await sender.run_once() == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        return emulator

    emulator = asyncio.run(scenario())
    try:
        assert emulator.stats.mt_accepted == 1
        (queued,) = emulator.machine.mt_queue
        events = boat.session.handle_downlink(queued.payload, T0)
        assert any(isinstance(e, MessagesAcked) and e.seqs == (1, 2) for e in events)
        assert any(isinstance(e, CaseStatusReceived) for e in events)
    finally:
        emulator.close()
    with sqlite_db.session() as s:
        row = s.exec(select(Downlink)).one()
        assert row.confirmed_at is not None and row.attempts == 2
        state = s.get(DeviceState, boat.vessel_id)
        assert state is not None and not state.ack_due
        assert due_vessels(s) == []


def test_sender_treats_a_negative_mt_confirmation_as_failure(sqlite_db: Database) -> None:
    port = _free_port()
    boat = Boat(sqlite_db, mt_url=f"127.0.0.1:{port}")
    _arrive(sqlite_db, boat)
    sender = DownlinkSender(sqlite_db, SHORE.sign, timeout_s=2)
    with Emulator(imei="300234999999999", mt_listen=("127.0.0.1", port)) as emulator:
        assert asyncio.run(sender.run_once()) == 0  # the "gateway" does not know this IMEI (-2)
        assert emulator.stats.mt_rejected == 1
    with sqlite_db.session() as s:
        assert due_vessels(s) == [boat.vessel_id]
