"""Helpers for the ingest adapter tests: a registered vessel that makes real frames, a
DirectIP server running on its own event-loop thread, and a blocking DirectIP client."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from sqlmodel import func, select

from firmware_bridge.directip import (
    DirectIPReader,
    MOHeader,
    MOLocation,
    MOMessage,
    decode_mo_confirmation,
    encode_mo,
)
from protocol import keys
from protocol.lang import Lang
from protocol.messages import Grievance as GrievanceContent
from protocol.vessel import VesselSession
from shore_gateway.db import Database
from shore_gateway.hooks import CaseHooks
from shore_gateway.ingest.directip import DirectIPLimits, DirectIPServer
from shore_gateway.metrics import Metrics
from shore_gateway.pipeline import Pipeline
from shore_gateway.registry import VesselIds, add_vessel
from tests.helpers import shore_keys

T0 = 1_763_640_000
SHORE = shore_keys()
_imeis = itertools.count(300234010000100)


class Boat:
    """A registered vessel with its protocol session (frames are real, signed and sealed)."""

    def __init__(self, db: Database, name: str = "MV Test", *, mt_url: str | None = None):
        self.key = keys.new_signing_key(secrets.token_bytes)
        self.imei = str(next(_imeis))
        with db.session() as session:
            vessel = add_vessel(
                session,
                name,
                keys.public_pem(self.key.public_key()),
                VesselIds(imei=self.imei, owner="Acme"),
            )
            vessel.mt_url = mt_url
            session.add(vessel)
            session.flush()
            assert vessel.id is not None
            self.vessel_id: int = vessel.id
        self.kid = keys.key_id(self.key.public_key())
        self.session = VesselSession(
            sign_key=self.key,
            shore_sign_pub=SHORE.sign.public_key(),
            shore_seal_pub=SHORE.seal.public_key(),
        )

    def grievance_frames(
        self, n: int = 1, now: int = T0, text: str = "wages withheld"
    ) -> list[bytes]:
        """``n`` frames of one grievance each."""
        out = []
        for i in range(n):
            self.session.queue_crew(
                GrievanceContent(category=0x17, lang=Lang.EN, text=f"{text} #{i}"), now
            )
            out += [f.data for f in self.session.frames_to_send(now, max_frames=1)]
        return out


def large_frames(
    boat: Boat, n: int, *, now: int = T0, text: str = "wages withheld", limit: int = 100_000
) -> list[bytes]:
    """``n`` grievances in frames of up to ``limit`` bytes (an IMT message or a broadband post
    each: many messages under one signature)."""
    for i in range(n):
        boat.session.queue_crew(
            GrievanceContent(category=0x17, lang=Lang.EN, text=f"{text} #{i}"), now
        )
    return [f.data for f in boat.session.frames_to_send(now, max_frames=n, limit=limit)]


def pipeline_for(db: Database, metrics: Metrics | None = None) -> Pipeline:
    return Pipeline(db, metrics or Metrics(), seal_keys=[SHORE.seal], hooks=CaseHooks())


def count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def mo_bytes(
    payload: bytes | None,
    *,
    imei: str = "300234010000001",
    momsn: int = 1,
    location: tuple[float, float] | None = None,
) -> bytes:
    return encode_mo(
        MOMessage(
            header=MOHeader(
                cdr_reference=momsn,
                imei=imei,
                session_status=0,
                momsn=momsn,
                mtmsn=0,
                session_time=T0 + momsn,
            ),
            payload=payload,
            location=MOLocation.from_degrees(*location, cep_km=3) if location else None,
        )
    )


def deliver(address: tuple[str, int], data: bytes, timeout: float = 10.0) -> bool | None:
    """Send bytes, return the confirmation (True/False), or None when closed without one."""
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return None
        return read_confirmation(sock)


def read_confirmation(sock: socket.socket) -> bool | None:
    reader = DirectIPReader(max_message=64)
    while True:
        try:
            chunk = sock.recv(256)
        except OSError:
            return None
        try:
            done = reader.receive_data(chunk or None)
        except Exception:
            return None
        if done:
            return decode_mo_confirmation(done[0]).success
        if not chunk:
            return None


class ServerThread:
    """A :class:`DirectIPServer` on a private event loop in a daemon thread."""

    def __init__(self, server: DirectIPServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.address = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(grace_s=1), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(self.loop.shutdown_default_executor(), self.loop).result(
            10
        )
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@contextmanager
def directip_server(db: Database, limits: DirectIPLimits | None = None) -> Iterator[ServerThread]:
    server = DirectIPServer(pipeline_for(db), host="127.0.0.1", port=0, limits=limits)
    with ServerThread(server) as running:
        yield running


class Served:
    """The gateway app under uvicorn on a free port, in a thread."""

    def __init__(self, app: object) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",  # type: ignore[arg-type]
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
