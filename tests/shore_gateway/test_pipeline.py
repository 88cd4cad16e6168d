"""The frame pipeline against real databases (SQLite and PostgreSQL): exactly-once, gaps,
chain, fragments, forged and malformed input."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select

from protocol import keys
from protocol.lang import Lang
from protocol.messages import Grievance as GrievanceContent
from protocol.messages import LossReason, LostRange, StatusRequest, Withdraw
from protocol.seqranges import gap_ranges, merge
from protocol.shorecore import MAX_GAP_RANGES
from protocol.vessel import VesselSession
from shore_gateway import pipeline as pipeline_module
from shore_gateway.db import Database
from shore_gateway.decrypt import open_pending
from shore_gateway.downlink import acks_for
from shore_gateway.hooks import CaseHooks
from shore_gateway.metrics import Metrics
from shore_gateway.models import (
    Alert,
    DeviceState,
    FragmentPart,
    Grievance,
    Message,
    Position,
    RawFrame,
)
from shore_gateway.pipeline import Pipeline
from shore_gateway.pipeline_api import AcceptResult, ArrivalMeta, Outcome
from shore_gateway.registry import VesselIds, add_vessel, revoke_key, rotate_key
from tests.helpers import det_rng, shore_keys

T0 = 1_763_640_000
SHORE = shore_keys()


class Fleet:
    """One registered vessel with its protocol session, and a pipeline in front of a db."""

    def __init__(self, db: Database, *, seal: bool = True, hooks: CaseHooks | None = None):
        self.db = db
        self.key = keys.new_signing_key(det_rng("pipeline vessel"))
        with db.session() as session:
            self.vessel_id = add_vessel(
                session,
                "MV Sea Star",
                keys.public_pem(self.key.public_key()),
                VesselIds(imei="300234010000001", owner="Acme Fishing"),
            ).id
        self.session = VesselSession(
            sign_key=self.key,
            shore_sign_pub=SHORE.sign.public_key(),
            shore_seal_pub=SHORE.seal.public_key(),
        )
        self.calls: list[str] = []
        self.pipeline = Pipeline(
            db,
            Metrics(),
            seal_keys=[SHORE.seal] if seal else None,
            hooks=hooks
            or CaseHooks(
                on_grievance=lambda s, g, v: self.calls.append(f"grievance {g.category:#x}"),
                on_withdraw=lambda s, v, ref: self.calls.append(f"withdraw {ref}"),
                on_status_request=lambda s, v, ref: self.calls.append(f"status {ref}"),
            ),
        )
        self.momsn = 0

    def frames(self, now: int = T0, n: int = 16) -> list[bytes]:
        return [f.data for f in self.session.frames_to_send(now, max_frames=n)]

    def send(self, data: bytes, channel: str = "directip") -> Outcome:
        self.momsn += 1
        meta = ArrivalMeta(channel=channel, imei="300234010000001", momsn=self.momsn)
        return self.pipeline.ingest(data, meta).outcome

    def count(self, model: type) -> int:
        with self.db.session() as s:
            return int(s.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
def fleet(db: Database) -> Fleet:
    return Fleet(db)


def test_grievance_stored_once_across_channels_and_retries(fleet: Fleet) -> None:
    fleet.session.queue_crew(
        GrievanceContent(category=0x16, lang=Lang.TH, text="กัปตันยึดพาสปอร์ตของผม"), T0
    )
    fleet.session.queue_position(time=T0 - 600, lat=-4.6, lon=55.4, now=T0)
    (data,) = fleet.frames()
    assert fleet.send(data, "directip") is Outcome.STORED
    assert fleet.send(data, "rockblock") is Outcome.STORED  # a second arrival…
    assert fleet.send(data, "mqtt") is Outcome.STORED
    assert fleet.count(Grievance) == 1  # …of the same messages
    assert fleet.count(Message) == 2
    assert fleet.count(RawFrame) == 3
    assert fleet.calls == ["grievance 0x16"]
    with fleet.db.session() as s:
        g = s.exec(select(Grievance)).one()
        assert g.text == "กัปตันยึดพาสปอร์ตของผม"
        assert g.lang == "th"
        assert g.pos_lat is not None  # enriched with the agent's own position report
        assert s.exec(select(Position)).one().source == "agent"
        acks = acks_for(s, fleet.vessel_id)
    assert acks[0].cum_seq == 2


def test_forged_malformed_oversize_and_unknown_refused_nothing_stored(fleet: Fleet) -> None:
    fleet.session.queue_heartbeat(T0)
    (good,) = fleet.frames()
    forged = bytearray(good)
    forged[-3] ^= 1
    stranger = VesselSession(
        sign_key=keys.new_signing_key(det_rng("x")),
        shore_sign_pub=SHORE.sign.public_key(),
        shore_seal_pub=SHORE.seal.public_key(),
    )
    stranger.queue_heartbeat(T0)
    cases = {
        bytes(forged): "BadSignature",
        good[:40]: "Truncated",
        good + b"\0" * 300: "Oversize",
        stranger.frames_to_send(T0)[0].data: "UnknownDevice",
        b"": "Truncated",
    }
    for data, reason in cases.items():
        result = fleet.pipeline.ingest(data, ArrivalMeta(channel="cli"))
        assert result.outcome is Outcome.REJECTED
        assert result.reason and result.reason.startswith(reason)
    assert fleet.count(RawFrame) == 0
    assert fleet.send(good) is Outcome.STORED  # and it keeps serving


def test_fragments_reassemble_across_arrivals_in_any_order(fleet: Fleet) -> None:
    rnd = random.Random(3)
    text = "".join(rnd.choice("ကခဂဃငစဆဇညတထဒဓနပဖဗဘမယရလဝသဟအ ") for _ in range(700))
    items = fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.MY, text=text), T0)
    assert len(items) >= 3
    frames = fleet.frames(n=32)
    rnd.shuffle(frames)
    for data in frames + frames[:1]:
        fleet.send(data)
    with fleet.db.session() as s:
        (g,) = s.exec(select(Grievance)).all()
        assert g.text == text
        assert acks_for(s, fleet.vessel_id)[0].cum_seq == len(items)


def test_gap_alert_then_resolved_and_chain_checked(fleet: Fleet) -> None:
    for i in range(3):
        fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text=f"g{i}"), T0)
    held_back = fleet.frames()
    fleet.session.queue_heartbeat(T0 + 60)
    (hb,) = fleet.frames(T0 + 60)
    fleet.send(hb)
    with fleet.db.session() as s:
        (alert,) = s.exec(select(Alert)).all()
        assert alert.kind == "gap"
        assert "seq 1–3" in alert.detail
        assert alert.resolved_at is None
    for data in held_back:
        fleet.send(data)
    with fleet.db.session() as s:
        alerts = s.exec(select(Alert)).all()
        assert [a.kind for a in alerts] == ["gap"]  # the chain verified: no chain alert
        assert alerts[0].resolved_at is not None


def _open_gap_alerts(fleet: Fleet) -> list[Alert]:
    with fleet.db.session() as s:
        return list(
            s.exec(select(Alert).where(Alert.kind == "gap", col(Alert.resolved_at).is_(None))).all()
        )


def test_declared_evictions_are_labelled_as_the_vessels_claim_not_missing(fleet: Fleet) -> None:
    """Heartbeats 5–7 were evicted on board (storage full); heartbeat 9 declares it."""
    for k in range(1, 8):
        fleet.session.queue_heartbeat(T0 + k)
    for seq in (5, 6, 7):
        del fleet.session.outbox[seq]  # evicted unsent
    for data in fleet.frames(T0 + 10):
        fleet.send(data)
    assert _open_gap_alerts(fleet) == []
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="wages"), T0 + 20)
    (crew,) = fleet.frames(T0 + 20)
    fleet.send(crew)  # seq 8 before the declaring heartbeat: for now, plain "missing"
    (alert,) = _open_gap_alerts(fleet)
    assert alert.detail.startswith("messages missing from vessel MV Sea Star (seq 5–7;")
    evicted = LostRange(first=5, last=7, reason=LossReason.EVICTED)
    fleet.session.queue_heartbeat(T0 + 30, lost=[evicted])
    (hb,) = fleet.frames(T0 + 30)
    fleet.send(hb)
    (alert,) = _open_gap_alerts(fleet)  # the "missing" alert is superseded by the labelled one
    assert "missing" not in alert.detail
    assert "seq 5–7 evicted on board (storage full)" in alert.detail
    assert "the device's own claim, not verifiable ashore" in alert.detail
    with fleet.db.session() as s:
        state = s.get(DeviceState, fleet.vessel_id)
        assert state is not None
        assert (state.prefix, state.highest, state.chain_seq) == (4, 9, 4)  # nothing claimed
        assert json.loads(state.declared) == [[5, 7, 1]]
        assert json.loads(state.missing) == [[5, 7, 1]]
        (ack,) = acks_for(s, fleet.vessel_id)
    assert ack.cum_seq == 4 and ack.seqs() == [8, 9]  # an ack never claims 5–7
    # A gap outside the declared ranges is still "missing".
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="held"), T0 + 40)
    fleet.session.outbox.pop(10)  # seq 10 never reaches shore, and nobody declares it
    fleet.session.queue_position(time=T0 + 50, lat=-4.6, lon=55.4, now=T0 + 50)
    for data in fleet.frames(T0 + 50):
        fleet.send(data)
    alerts = _open_gap_alerts(fleet)
    assert len(alerts) == 2  # the new one lists every range
    newest = max(alerts, key=lambda a: a.id or 0)
    assert newest.detail.startswith("messages missing from vessel MV Sea Star (seq 10); ")
    assert "says it never sent seq 5–7 evicted on board (storage full)" in newest.detail
    # Repeated declarations (until the vessel sees its heartbeat acked) change nothing.
    fleet.session.queue_heartbeat(T0 + 60, lost=[evicted])
    for data in fleet.frames(T0 + 60):
        fleet.send(data)
    assert len(_open_gap_alerts(fleet)) == 2


def test_every_reason_is_labelled_and_unknown_reasons_shown_by_number(fleet: Fleet) -> None:
    fleet.session.next_seq = 40
    fleet.session.queue_heartbeat(
        T0,
        lost=[
            LostRange(first=1, last=9, reason=LossReason.SKIPPED),
            LostRange(first=12, last=12, reason=LossReason.DAMAGED),
            LostRange(first=20, last=21, reason=LossReason.EVICTED),
            LostRange(first=30, last=30, reason=77),
        ],
    )
    (hb,) = fleet.frames()
    fleet.send(hb)
    (alert,) = _open_gap_alerts(fleet)
    assert alert.detail.startswith(
        "messages missing from vessel MV Sea Star (seq 10–11, 13–19, 22–29, 31–39); "
        "vessel MV Sea Star says it never sent seq 20–21 evicted on board (storage full); "
        "seq 12 lost to outbox damage; seq 1–9 skipped after recovery; "
        "seq 30 declared not sent (reason 77) — the device's own claim"
    )


def test_withdraw_and_status_request_reach_the_case_desk(fleet: Fleet) -> None:
    fleet.session.queue_crew(GrievanceContent(category=0x18, lang=Lang.ID, text="hutang"), T0)
    fleet.session.queue_crew(StatusRequest(ref_seq=1), T0 + 1)
    fleet.session.queue_crew(Withdraw(ref_seq=1), T0 + 2)
    for data in fleet.frames(T0 + 2):
        fleet.send(data)
    assert fleet.calls == ["grievance 0x18", "status 1", "withdraw 1"]


def test_decrypt_worker_opens_later(db: Database) -> None:
    fleet = Fleet(db, seal=False)
    fleet.session.queue_crew(GrievanceContent(category=0xF1, lang=Lang.VI, text="cấp cứu"), T0)
    for data in fleet.frames():
        fleet.send(data)
    assert fleet.count(Grievance) == 0  # this host cannot read it
    assert open_pending(db, [SHORE.seal], hooks=fleet.pipeline.hooks) == 1
    assert open_pending(db, [SHORE.seal], hooks=fleet.pipeline.hooks) == 0
    assert fleet.count(Grievance) == 1
    assert fleet.calls == ["grievance 0xf1"]


def test_concurrent_arrivals_of_the_same_frame_make_one_grievance(fleet: Fleet) -> None:
    fleet.session.queue_crew(GrievanceContent(category=0x14, lang=Lang.EN, text="beaten"), T0)
    (data,) = fleet.frames()

    async def burst() -> list[Outcome]:
        results = await asyncio.gather(
            *[
                fleet.pipeline.accept(data, ArrivalMeta(channel=c, imei="1", momsn=i))
                for i, c in enumerate(["directip", "rockblock", "mqtt", "cli"] * 3)
            ]
        )
        return [r.outcome for r in results]

    outcomes = asyncio.run(burst())
    assert all(o in (Outcome.STORED, Outcome.DUPLICATE) for o in outcomes)
    assert fleet.count(Grievance) == 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400))
def test_any_bytes_are_refused_or_accepted_never_crash(sqlite_fleet: Fleet, data: bytes) -> None:
    result = sqlite_fleet.pipeline.ingest(data, ArrivalMeta(channel="cli"))
    assert result.outcome is Outcome.REJECTED
    assert result.reason


@pytest.fixture
def sqlite_fleet(sqlite_url: str) -> Iterator[Fleet]:
    database = Database(sqlite_url)
    database.migrate()
    yield Fleet(database)
    database.dispose()


def _snapshot(db: Database) -> dict[str, object]:
    with db.session() as s:
        state = s.exec(select(DeviceState)).one()
        alerts = s.exec(select(Alert)).all()
        return {
            "state": (state.prefix, state.highest, state.chain_seq, state.chain_value),
            "missing": state.missing,
            "declared": state.declared,
            "depth": state.queue_depth,
            "messages": sorted(s.exec(select(Message.seq, Message.kind, Message.digest)).all()),
            "grievances": sorted(
                s.exec(select(Message.seq).join(Grievance, Grievance.message_id == Message.id))
            ),
            "positions": s.exec(select(func.count()).select_from(Position)).one(),
            "parts": sorted(s.exec(select(FragmentPart.seq)).all()),
            "gap open": any(a.kind == "gap" and a.resolved_at is None for a in alerts),
            "chain alerts": sum(a.kind == "chain" for a in alerts),
        }


def _assert_state_recounts(db: Database) -> None:
    """The state kept without reading back equals a recount over every stored seq."""
    with db.session() as s:
        state = s.exec(select(DeviceState)).one()
        have = set(s.exec(select(Message.seq)).all()) | set(s.exec(select(FragmentPart.seq)).all())
    prefix = 0
    while prefix + 1 in have:
        prefix += 1
    assert state.prefix == prefix
    assert state.highest == max(have, default=0)
    assert merge(json.loads(state.missing)) == gap_ranges(prefix, have, MAX_GAP_RANGES)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    plan=st.lists(
        st.sampled_from(["short", "long", "heartbeat", "position", "evicted"]), max_size=10
    ),
    data=st.data(),
)
def test_batches_leave_the_same_state_as_one_at_a_time(
    tmp_path_factory: pytest.TempPathFactory, plan: list[str], data: st.DataObject
) -> None:
    """Group commit takes shortcuts (nothing read back for a settled vessel); whatever the
    batches, duplicates, losses and order, the result is what arrivals one by one leave."""
    root = tmp_path_factory.mktemp("batches")
    dbs = [Database(f"sqlite:///{root / name}.sqlite3") for name in ("serial", "batched")]
    for db in dbs:
        db.migrate()
    serial, batched = (Fleet(db) for db in dbs)
    frames: list[bytes] = []
    evicted: list[int] = []
    for k, kind in enumerate(plan):
        now = T0 + 60 * k
        if kind == "evicted":  # a routine report dropped on board; later heartbeats declare it
            evicted.append(serial.session.queue_position(time=now, lat=0.0, lon=0.0, now=now).seq)
            del serial.session.outbox[evicted[-1]]
        elif kind == "heartbeat":
            lost = [LostRange(first=s, last=s, reason=LossReason.EVICTED) for s in evicted[-8:]]
            serial.session.queue_heartbeat(now, lost=lost)
        elif kind == "position":
            serial.session.queue_position(time=now, lat=-4.5, lon=55.0 + k / 10, now=now)
        else:
            text = "wages unpaid " * (60 if kind == "long" else 1)
            serial.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text=text), now)
        frames += serial.frames(now)
    order = data.draw(st.lists(st.sampled_from(frames), max_size=3 * len(frames))) if frames else []
    for n, frame_bytes in enumerate(order):
        meta = ArrivalMeta(channel="mqtt", imei="300234010000001", momsn=n)
        serial.pipeline.ingest(frame_bytes, meta)
    start = 0
    while start < len(order):
        size = data.draw(st.integers(1, 8))
        items = [
            (f, ArrivalMeta(channel="mqtt", imei="300234010000001", momsn=start + i))
            for i, f in enumerate(order[start : start + size])
        ]
        batched.pipeline.ingest_many(items)
        start += size
    try:
        if order:
            assert _snapshot(dbs[1]) == _snapshot(dbs[0])
            _assert_state_recounts(dbs[1])
    finally:
        for db in dbs:
            db.dispose()


def test_a_cancelled_caller_spoils_no_other_arrival(fleet: Fleet) -> None:
    frames = []
    for i in range(6):
        fleet.session.queue_crew(GrievanceContent(category=0x14, lang=Lang.EN, text=f"g{i}"), T0)
        frames += fleet.frames(T0, n=1)
    assert len(frames) == 6

    async def burst() -> list[Outcome]:
        calls = [
            asyncio.ensure_future(
                fleet.pipeline.accept(data, ArrivalMeta(channel="mqtt", imei="1", momsn=i))
            )
            for i, data in enumerate(frames)
        ]
        await asyncio.sleep(0)  # every arrival handed over
        calls[0].cancel()  # e.g. the provider's connection dropped
        rest = await asyncio.gather(*calls[1:])
        return [r.outcome for r in rest]

    assert asyncio.run(burst()) == [Outcome.STORED] * (len(frames) - 1)
    assert fleet.count(Grievance) == 6  # the cancelled caller's frame was taken all the same


def test_callers_answered_together_come_back_into_one_batch(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Senders that send again once answered (DirectIP: a connection per frame) come back over
    several turns of the event loop; the next batch waits for all of them, rather than taking
    the first and leaving the others to a batch of their own (the wait is bounded by a share of
    the batch's time, made long here so that a loaded machine cannot end it first)."""
    monkeypatch.setattr(pipeline_module, "GATHER_SHARE", 100.0)
    senders, rounds = 4, 5
    frames = []
    for i in range(senders * rounds):
        fleet.session.queue_crew(GrievanceContent(category=0x14, lang=Lang.EN, text=f"g{i}"), T0)
        frames += fleet.frames(T0, n=1)
    batches: list[int] = []
    ingest_many = fleet.pipeline.ingest_many

    def counted(items: list[tuple[bytes, ArrivalMeta]]) -> list[AcceptResult]:
        batches.append(len(items))
        return ingest_many(items)

    monkeypatch.setattr(fleet.pipeline, "ingest_many", counted)

    async def sender(k: int) -> None:
        for n, data in enumerate(frames[k::senders]):
            for _ in range(2 * k * n):  # the first round sent at once, then back after a while
                await asyncio.sleep(0)
            meta = ArrivalMeta(channel="directip", imei="1", momsn=n * senders + k)
            assert (await fleet.pipeline.accept(data, meta)).outcome is Outcome.STORED

    async def run() -> None:
        await asyncio.gather(*(sender(k) for k in range(senders)))

    asyncio.run(run())
    assert batches == [senders] * rounds
    assert fleet.count(Grievance) == senders * rounds


def test_a_replacement_box_reusing_seqs_is_flagged_and_loses_nothing(fleet: Fleet) -> None:
    """A fresh box rotated onto a vessel restarts at seq 1: its messages are not duplicates.
    They cannot be stored under taken seqs, so staff are alerted and no ack claims them (the
    box would delete them); moved to a vessel entry of its own, the box's resends are stored."""
    for i in range(3):
        fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text=f"o{i}"), T0)
    for data in fleet.frames():
        assert fleet.send(data) is Outcome.STORED
    box_key = keys.new_signing_key(det_rng("replacement box"))
    box_pem = keys.public_pem(box_key.public_key())
    with fleet.db.session() as s:
        rotate_key(s, "MV Sea Star", box_pem, revoke_old=True)  # the mistake
    box = VesselSession(
        sign_key=box_key,
        shore_sign_pub=SHORE.sign.public_key(),
        shore_seal_pub=SHORE.seal.public_key(),
    )
    box.queue_crew(GrievanceContent(category=0x18, lang=Lang.EN, text="new box"), T0 + 60)
    box.queue_crew(GrievanceContent(category=0x19, lang=Lang.EN, text="new box 2"), T0 + 60)
    box_frames = [f.data for f in box.frames_to_send(T0 + 60, max_frames=4)]
    for _ in range(2):  # the box resends: still one alert
        for data in box_frames:
            fleet.send(data)
    with fleet.db.session() as s:
        texts = sorted(g.text for g in s.exec(select(Grievance)).all())
        assert texts == ["o0", "o1", "o2"]  # nothing overwritten, nothing taken as the box's
        (alert,) = s.exec(select(Alert).where(Alert.kind == "collision")).all()
        assert "seq 1, 2" in alert.detail and "new vessel" in alert.detail
        assert acks_for(s, fleet.vessel_id) == []  # held: the box keeps its messages
        statuses = s.exec(select(RawFrame.status)).all()
        assert statuses.count("conflict") == 2 * len(box_frames)
    # The fix: revoke the box's key on this vessel (closes the alert), register it on its own.
    with fleet.db.session() as s:
        assert revoke_key(s, keys.key_id(box_key.public_key())) == 1
        add_vessel(s, "MV Sea Star box 2", box_pem, VesselIds(imei="300234010000002"))
        assert acks_for(s, fleet.vessel_id)[0].cum_seq == 3
    for data in box_frames:
        assert fleet.send(data) is Outcome.STORED
    with fleet.db.session() as s:
        assert len(s.exec(select(Grievance)).all()) == 5
        assert s.exec(select(Alert).where(col(Alert.resolved_at).is_(None))).all() == []


def test_two_boxes_sending_one_seq_in_one_batch_collide(fleet: Fleet) -> None:
    box_key = keys.new_signing_key(det_rng("second box"))
    with fleet.db.session() as s:
        rotate_key(s, "MV Sea Star", keys.public_pem(box_key.public_key()))  # both live
    box = VesselSession(
        sign_key=box_key,
        shore_sign_pub=SHORE.sign.public_key(),
        shore_seal_pub=SHORE.seal.public_key(),
    )
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="a"), T0)
    box.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="b"), T0)
    (a,) = fleet.frames()
    (b,) = [f.data for f in box.frames_to_send(T0)]
    meta = [ArrivalMeta(channel="mqtt", imei="300234010000001", momsn=n) for n in (1, 2)]
    fleet.pipeline.ingest_many([(a, meta[0]), (b, meta[1])])
    with fleet.db.session() as s:
        assert [g.text for g in s.exec(select(Grievance)).all()] == ["a"]
        assert [a.kind for a in s.exec(select(Alert)).all()] == ["collision"]
        assert acks_for(s, fleet.vessel_id) == []  # neither box deletes seq 1 on an ack
