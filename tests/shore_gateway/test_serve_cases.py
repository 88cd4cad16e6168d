"""`flip gateway serve` runs the case desk's connectors and outbox dispatcher (configured by the
``FLIP_CASES_…`` environment, docs/cases.md): a grievance that arrives over DirectIP reaches a
(fake) Primero as one new case; a misconfigured connector stops serve with a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shore_gateway.db import Database
from tests.shore_gateway.cases.servers import FakePrimero, ServerThread
from tests.shore_gateway.ingest.gwproc import gateway, hostport
from tests.shore_gateway.ingest.helpers import Boat, mo_bytes
from tests.shore_gateway.test_crash import _shore_dir, _until_confirmed


@pytest.mark.slow
def test_serve_delivers_new_cases_to_primero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    db = Database(url)
    db.migrate()
    boat = Boat(db, "MV Cases")
    frames = boat.grievance_frames(2)
    fake = FakePrimero()
    with ServerThread(fake.app) as primero:
        gw = gateway(
            url,
            _shore_dir(tmp_path),
            "--no-downlink",
            env={
                "FLIP_CASES_CONNECTORS": "primero",
                "FLIP_CASES_PRIMERO_URL": primero.url,
                "FLIP_CASES_PRIMERO_USER": "primero",
                "FLIP_CASES_PRIMERO_PASSWORD": "pw",
                "FLIP_CASES_DISPATCH_INTERVAL_S": "0.2",
            },
        )
        try:
            assert gw.ready["cases"] == ["primero"]
            address = hostport(gw.ready["directip"])
            for i, frame in enumerate(frames):
                _until_confirmed(
                    address, mo_bytes(frame, imei=boat.imei, momsn=i), time.monotonic() + 20
                )
            deadline = time.monotonic() + 20
            while not fake.creates:
                assert time.monotonic() < deadline, "no case reached Primero"
                time.sleep(0.05)
        finally:
            assert gw.stop() == 0
    # Both grievances (same vessel, same category) are one case: one create, never two.
    assert list(fake.creates.values()) == [1]
    db.dispose()


def test_serve_refuses_a_misconfigured_case_connector(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "flip", "gateway", "serve",
         "--db", f"sqlite:///{tmp_path / 'gw.sqlite3'}",
         "--http", "127.0.0.1:0", "--directip", "127.0.0.1:0", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "FLIP_CASES_CONNECTORS": "primero"},
    )  # fmt: skip
    assert r.returncode != 0
    assert "primero connector needs FLIP_CASES_PRIMERO_URL" in r.stdout + r.stderr
    assert '"ready"' not in r.stdout  # never claimed to be ready


@pytest.mark.slow
@pytest.mark.parametrize("narrowed", [False, True])
def test_serve_mqtt_publishes_new_cases_unless_narrowed(tmp_path: Path, narrowed: bool) -> None:
    """CONTRACTS.md: `serve --mqtt URL` publishes new cases on flip/v1/cases/new — no variable
    needed; ``FLIP_CASES_CONNECTORS=""`` narrows it to the desk alone."""
    from tests.shore_gateway.private_services import PrivateMosquitto
    from tests.shore_gateway.test_faults import CaseListener

    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    db = Database(url)
    db.migrate()
    boat = Boat(db, "MV Contract")
    broker = PrivateMosquitto()
    listener = CaseListener(broker.port, "flip/v1/cases/new", "contract-listener")
    env = {"FLIP_CASES_DISPATCH_INTERVAL_S": "0.2"}
    if narrowed:
        env["FLIP_CASES_CONNECTORS"] = ""
    gw = gateway(url, _shore_dir(tmp_path), "--no-downlink", "--mqtt", broker.url, env=env)
    try:
        assert gw.ready["cases"] == ([] if narrowed else ["mqtt"])
        address = hostport(gw.ready["directip"])
        (frame,) = boat.grievance_frames(1)
        _until_confirmed(address, mo_bytes(frame, imei=boat.imei, momsn=1), time.monotonic() + 20)
        deadline = time.monotonic() + (3 if narrowed else 20)
        while not listener.keys and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert gw.stop() == 0
        listener.close()
        broker.close()
        db.dispose()
    assert len(listener.keys) == (0 if narrowed else 1)
