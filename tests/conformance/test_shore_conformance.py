"""Both shore stores run one core: the same frames give the same results.

The in-memory store (:class:`protocol.shore.ShoreSession`, the simulator's shore) and the SQL
store (the gateway's :class:`~shore_gateway.pipeline.Pipeline` on SQLite) are fed the same
signed frames — in any order, duplicated, lost, fragmented, with heartbeat loss declarations,
a second box colliding on taken seqs, and forged fragment sets signed by the vessel key. After
every arrival both must agree on: refused or taken, the acks, the device state (prefix,
highest, chain, labelled gaps, declared losses), the stored messages and held fragments, the
grievances' words, and the alerts (gap with its text, chain, collision; open or resolved).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from protocol import frame, keys, shorecore
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.events import (
    ChainMismatched,
    CollisionDetected,
    GapDetected,
    GapsResolved,
    MessageReceived,
)
from protocol.lang import Lang
from protocol.messages import CrewMessage, Fragment, Grievance, LostRange, encode_message
from protocol.messages import Grievance as GrievanceContent
from protocol.shore import ShoreSession, open_crew
from protocol.vessel import VesselSession
from shore_gateway.db import Database
from shore_gateway.downlink import acks_for
from shore_gateway.hooks import CaseHooks
from shore_gateway.metrics import Metrics
from shore_gateway.models import Alert, DeviceState, FragmentPart, Message, Vessel
from shore_gateway.models import Grievance as GrievanceRow
from shore_gateway.pipeline import Pipeline
from shore_gateway.pipeline_api import ArrivalMeta, Outcome
from shore_gateway.registry import VesselIds, add_vessel, rotate_key
from tests.helpers import det_rng, shore_keys

T0 = 1_763_640_000
SHORE = shore_keys()
_names = itertools.count(1)


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'conformance.sqlite3'}")
        database.migrate()
        yield database
        database.dispose()


# --- what a vessel (and a second box, and a doctored agent) sends ----------------------------

Op = tuple[str, int]  # ("crew", length) | ("heartbeat", declared…) | ("position", 0) | ("flush", n)

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("crew"), st.sampled_from([5, 40, 120, 700, 1500])),
        st.tuples(st.just("heartbeat"), st.integers(0, 3)),
        st.tuples(st.just("position"), st.just(0)),
        st.tuples(st.just("flush"), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=14,
)
BOX_OPS = st.lists(st.sampled_from([5, 60]), max_size=3)  # a replacement box restarting at 1
EVIL = st.lists(  # fragments a doctored agent signs: sets that disagree, or collide
    st.tuples(
        st.integers(1, 30), st.integers(0, 2), st.integers(2, 3), st.binary(min_size=1, max_size=6)
    ),
    max_size=4,
)


def _vessel(key: keys.Ed25519PrivateKey) -> VesselSession:
    return VesselSession(
        sign_key=key,
        shore_sign_pub=SHORE.sign.public_key(),
        shore_seal_pub=SHORE.seal.public_key(),
    )


def _flush(v: VesselSession, now: int, n: int, out: list[bytes]) -> None:
    out.extend(f.data for f in v.frames_to_send(now, max_frames=n))


def _frames(
    key: keys.Ed25519PrivateKey,
    box_key: keys.Ed25519PrivateKey,
    ops: list[Op],
    box_ops: list[int],
    evil: list[tuple[int, int, int, bytes]],
) -> list[bytes]:
    v = _vessel(key)
    out: list[bytes] = []
    now = T0
    for i, (op, arg) in enumerate(ops):
        now += 10
        if op == "crew":
            text = ("ကခဂဃင abc " * 200)[:arg] + str(i)
            v.queue_crew(GrievanceContent(category=0x17, lang=Lang.MY, text=text), now)
        elif op == "heartbeat":
            # declared losses over seqs that may or may not arrive (a doctored agent may lie)
            top = v.next_seq - 1  # the heartbeat's own seq is next: claims lie below it
            lost = [
                LostRange(first=a, last=min(a + 1 + i % 2, top), reason=[1, 2, 3, 9][j])
                for j in range(arg)
                if (a := 2 + 3 * j) <= top
            ]
            v.queue_heartbeat(now, lost=lost)
        elif op == "position":
            v.queue_position(time=now, lat=-4.6, lon=55.4, now=now)
        else:
            _flush(v, now, arg, out)
    _flush(v, now + 10, 64, out)
    box = _vessel(box_key)
    for j, n in enumerate(box_ops):
        box.queue_crew(GrievanceContent(category=0x18, lang=Lang.EN, text="box " * n + str(j)), now)
    _flush(box, now + 20, 8, out)
    kid = keys.key_id(key.public_key())
    for seq, index, count, chunk in evil:
        frag = Fragment(seq=seq, index=index, count=count, chunk=chunk)
        try:
            payload = frame.uplink_payload([encode_message(frag)])
        except LocalProtocolError:
            continue
        out.append(frame.sign(payload, key, kid))
    return out


# --- the two stores, seen the same way --------------------------------------------------------


@dataclass
class Memory:
    """The in-memory store and the alerts its events amount to."""

    session: ShoreSession
    name: str
    alerts: list[list[object]] = field(default_factory=list)  # [kind, detail, open]
    words: dict[int, str] = field(default_factory=dict)

    def take(self, data: bytes, now: float) -> bool:
        try:
            _, kid, events = self.session.receive_frame(data, now)
        except RemoteProtocolError:
            return False
        when = dt.datetime.fromtimestamp(now, dt.UTC).isoformat()
        for ev in events:
            if isinstance(ev, MessageReceived) and isinstance(ev.message, CrewMessage):
                content = open_crew(ev.message, kid, [SHORE.seal])
                assert isinstance(content, Grievance)
                self.words[ev.seq] = content.text
            elif isinstance(ev, GapsResolved):
                for a in self.alerts:
                    if a[0] == "gap":
                        a[2] = False
            elif isinstance(ev, GapDetected):
                ranges = [list(r) for r in ev.ranges]
                text = shorecore.gap_text(self.name, ranges, highest=ev.highest, last_contact=when)
                self.alerts.append(["gap", text, True])
            elif isinstance(ev, ChainMismatched):
                self.alerts.append(["chain", shorecore.chain_text(self.name, ev.upto), True])
            elif isinstance(ev, CollisionDetected):
                self.alerts.append(["collision", None, True])
        return True

    def view(self) -> dict[str, object]:
        state = self.session.device(self.name)
        p = state.progress
        return {
            "state": (p.prefix, p.highest, p.chain_seq, p.chain_value),
            "missing": [list(r) for r in p.missing],
            "declared": [list(r) for r in p.declared],
            "depth": state.queue_depth,
            "messages": dict(sorted(state.messages.items())),
            "parts": sorted(state.pending()),
            "acks": self.session.acks_for(self.name),
            "words": dict(sorted(self.words.items())),
            "alerts": self.alerts,
        }


@dataclass
class Gateway:
    db: Database
    pipeline: Pipeline
    vessel_id: int
    momsn: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def take(self, data: bytes, now: float) -> bool:
        meta = ArrivalMeta(
            channel="directip",
            imei="300234010000001",
            momsn=next(self.momsn),
            received_at=dt.datetime.fromtimestamp(now, dt.UTC),
        )
        return self.pipeline.ingest(data, meta).outcome is not Outcome.REJECTED

    def view(self) -> dict[str, object]:
        vid = self.vessel_id
        with self.db.session() as s:
            state = s.get(DeviceState, vid)
            alerts = s.exec(
                select(Alert).where(Alert.vessel_id == vid).order_by(col(Alert.id))
            ).all()
            rows = s.exec(select(Message.seq, Message.digest).where(Message.vessel_id == vid))
            words = s.exec(
                select(Message.seq, GrievanceRow.text)
                .join(GrievanceRow, col(GrievanceRow.message_id) == col(Message.id))
                .where(Message.vessel_id == vid)
            ).all()
            parts = s.exec(select(FragmentPart.seq).where(FragmentPart.vessel_id == vid)).all()
            return {
                "state": (state.prefix, state.highest, state.chain_seq, state.chain_value)
                if state
                else (0, 0, 0, bytes(8)),
                "missing": _json(state.missing if state else "[]"),
                "declared": _json(state.declared if state else "[]"),
                "depth": state.queue_depth if state else None,
                "messages": dict(sorted(rows.all())),
                "parts": sorted(parts),
                "acks": acks_for(s, vid),
                "words": dict(sorted(words)),
                "alerts": [
                    [a.kind, None if a.kind == "collision" else a.detail, a.resolved_at is None]
                    for a in alerts
                ],
            }


def _json(raw: str) -> list[list[int]]:
    return [list(r) for r in json.loads(raw)]


def _stores(db: Database) -> tuple[Memory, Gateway, keys.Ed25519PrivateKey, keys.Ed25519PrivateKey]:
    n = next(_names)
    name = f"MV Conformance {n}"
    key = keys.new_signing_key(det_rng(f"conformance vessel {n}"))
    box = keys.new_signing_key(det_rng(f"conformance box {n}"))
    with db.session() as s:
        vessel: Vessel = add_vessel(
            s, name, keys.public_pem(key.public_key()), VesselIds(imei=f"3002340100{n:05d}")
        )
        rotate_key(s, name, keys.public_pem(box.public_key()))  # both boxes live: collisions
        assert vessel.id is not None
        vid = vessel.id
    by_kid = {keys.key_id(k.public_key()): [(name, k.public_key())] for k in (key, box)}
    memory = Memory(ShoreSession(sign_key=SHORE.sign, lookup=lambda kid: by_kid.get(kid, [])), name)
    gateway = Gateway(db, Pipeline(db, Metrics(), seal_keys=[SHORE.seal], hooks=CaseHooks()), vid)
    return memory, gateway, key, box


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS, box_ops=BOX_OPS, evil=EVIL, data=st.data())
def test_both_stores_agree_on_every_arrival(
    db: Database,
    ops: list[Op],
    box_ops: list[int],
    evil: list[tuple[int, int, int, bytes]],
    data: st.DataObject,
) -> None:
    memory, gateway, key, box = _stores(db)
    frames = _frames(key, box, ops, box_ops, evil)
    if not frames:
        return
    # arrival order: any order, some frames lost, some delivered again (provider retries)
    order = data.draw(
        st.lists(st.integers(0, len(frames) - 1), max_size=3 * len(frames)), label="arrivals"
    )
    now = float(T0 + 1000)
    for i in order:
        now += 7
        took = memory.take(frames[i], now)
        assert gateway.take(frames[i], now) == took
        assert memory.view() == gateway.view()


def test_the_suite_sees_every_kind_of_event(db: Database) -> None:
    """A fixed run that reaches each thing the property compares: gaps (plain and declared),
    their resolution, fragments, duplicates, a collision, a refused fragment set."""
    memory, gateway, key, box = _stores(db)
    ops: list[Op] = [("crew", 700), ("flush", 1), ("crew", 40), ("heartbeat", 2), ("crew", 5)]
    frames = _frames(key, box, ops, [5], [(30, 1, 3, b"\x02"), (29, 0, 2, b"\x01")])
    order = [len(frames) - 4, *range(len(frames)), 0, len(frames) - 1]
    now = float(T0 + 1000)
    took = []
    for i in order:
        now += 7
        took.append(memory.take(frames[i], now))
        assert gateway.take(frames[i], now) == took[-1]
        assert memory.view() == gateway.view()
    view = memory.view()
    kinds = [a[0] for a in view["alerts"]]  # type: ignore[attr-defined]
    assert "gap" in kinds and "collision" in kinds
    assert not all(took) and any(took)
    assert view["acks"] == []  # held by the collision
