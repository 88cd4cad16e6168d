"""`flip gateway serve` for real: subprocesses, an emulated modem delivering over DirectIP, the
downlink ack travelling back as DirectIP MT to the modem's gateway queue; the decrypt worker."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from firmware_bridge.driver import Modem
from flip.keyfiles import load_shore, load_signing
from protocol.events import MessagesAcked
from protocol.lang import Lang
from protocol.messages import Grievance as GrievanceContent
from protocol.vessel import VesselSession
from shore_gateway.db import Database
from shore_gateway.models import Alert, DeviceState, Grievance, Message
from shore_gateway.pipeline_api import ArrivalMeta
from tests.shore_gateway.ingest.gwproc import Proc, flip, gateway, shore_and_vessel_keys
from tests.shore_gateway.ingest.helpers import T0, count, pipeline_for

IMEI = "300234010753999"


def _wait(check, timeout: float = 20.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_modem_to_gateway_and_the_signed_ack_back(tmp_path: Path) -> None:
    shore, boat = shore_and_vessel_keys(tmp_path)
    db = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    gw = gateway(db, shore)
    emulator = None
    try:
        assert gw.ready["status"] == "ready" and gw.ready["sink"] == "Pipeline"
        emulator = Proc(
            "bridge",
            "emulate",
            "--imei",
            IMEI,
            "--directip",
            gw.ready["directip"],
            "--mt-listen",
            "127.0.0.1:0",
            "--latency",
            "0.01",
        )
        flip(
            "gateway",
            "vessel",
            "add",
            "--db",
            db,
            "--name",
            "MV Kanok",
            "--imei",
            IMEI,
            "--sign-pub",
            str(boat / "boat-sign.pub.pem"),
            "--mt-url",
            f"directip://{emulator.ready['mt_listen']}",
        )
        sealed = tmp_path / "g.bin"
        flip(
            "packet",
            "seal",
            "--sign-key",
            str(boat / "boat-sign.pem"),
            "--seal-pub",
            str(shore / "shore-seal.pub.pem"),
            "--category",
            "0x17",
            "--lang",
            "my",
            "--text",
            "လုပ်ခမပေးဘူး",
            "--seq",
            "1",
            "--out",
            str(sealed),
        )
        sent = flip("bridge", "send", emulator.ready["device"], "--file", str(sealed))
        assert sent["mo_status"] == 0
        database = Database(db)
        try:
            _wait(lambda: count(database, Grievance) == 1, what="the grievance")

            def acked() -> bool:
                with database.session() as s:
                    state = s.get(DeviceState, 1)
                    return state is not None and not state.ack_due

            _wait(acked, what="the downlink confirmation")
            with database.session() as s:
                assert s.exec(select(Grievance)).one().text == "လုပ်ခမပေးဘူး"
        finally:
            database.dispose()
        # The modem's next session picks the signed ack up from the gateway's MT queue.
        with Modem.open(emulator.ready["device"], timeout_s=5) as modem:
            modem.initialise()
            result = modem.session()
            assert result.mt_received
            payload = modem.read_mt()
        keys = load_shore(shore)
        vessel = VesselSession(
            sign_key=load_signing(boat / "boat-sign.pem"),
            shore_sign_pub=keys.sign.public_key(),
            shore_seal_pub=keys.seals[0].public_key(),
        )
        vessel.queue_crew(GrievanceContent(category=0x17, lang=Lang.MY, text="x"), T0)
        events = vessel.handle_downlink(payload, T0)
        assert [e.seqs for e in events if isinstance(e, MessagesAcked)] == [(1,)]
        health = httpx.get(f"{gw.ready['http']}/healthz", timeout=5)
        assert health.status_code == 200
    finally:
        if emulator is not None:
            emulator.stop()
        assert gw.stop() == 0


def test_split_deployment_decrypt_worker_opens_what_the_gateway_stored_sealed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flip.cli import main
    from flip.keyfiles import new_keys
    from protocol import keys as pkeys
    from tests.shore_gateway.ingest.helpers import SHORE, Boat

    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    database = Database(url)
    database.migrate()
    boat = Boat(database)
    pipeline = pipeline_for(database)
    pipeline.seal_keys = []  # this host cannot read crew messages
    for data in boat.grievance_frames(2):
        assert pipeline.ingest(data, ArrivalMeta(channel="cli")).durable
    assert count(database, Grievance) == 0
    keys, wrong = tmp_path / "keys", tmp_path / "wrong"
    keys.mkdir()
    (keys / "shore-sign.pem").write_bytes(pkeys.private_pem(SHORE.sign))
    (keys / "shore-seal.pem").write_bytes(pkeys.private_pem(SHORE.seal))
    new_keys(wrong, "other", "shore")

    def worker(directory: Path) -> str:
        argv = ["gateway", "decrypt-worker", "--db", url, "--keys", str(directory), "--once"]
        assert main([*argv, "--json"]) == 0
        return capsys.readouterr().out.strip()

    # A worker with the wrong sealing key opens nothing, alerts once per message, and does
    # not pick the same messages again on its next pass.
    assert worker(wrong) == '{"opened": 0}'
    assert worker(wrong) == '{"opened": 0}'
    assert count(database, Alert) == 2
    with database.session() as s:  # the operator fixes the key and re-queues them
        for row in s.exec(select(Message)).all():
            row.opened_at = None
            s.add(row)
    assert worker(keys) == '{"opened": 2}'
    assert count(database, Grievance) == 2
    database.dispose()


def test_no_decrypt_host_needs_only_the_signing_key(tmp_path: Path) -> None:
    from protocol import keys as pkeys
    from shore_gateway.app import create_app
    from shore_gateway.config import Settings
    from shore_gateway.ingest.service import load_sign_key
    from shore_gateway.pipeline import Pipeline
    from tests.shore_gateway.ingest.helpers import SHORE

    sign_only = tmp_path / "keys"
    sign_only.mkdir()
    (sign_only / "shore-sign.pem").write_bytes(pkeys.private_pem(SHORE.sign))
    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    app = create_app(Settings(db_url=url, keys_dir=sign_only, decrypt=False))
    assert isinstance(app.state.sink, Pipeline) and app.state.sink.seal_keys == []
    assert pkeys.key_id(load_sign_key(sign_only).public_key()) == pkeys.key_id(
        SHORE.sign.public_key()
    )
    app.state.db.dispose()
