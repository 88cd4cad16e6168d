"""`flip gateway vessel rotate-key | revoke-key | keys` as subprocesses, and their effect on the
real pipeline: a revoked key's frames are refused, the new key's are stored."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from flip.cli import main
from protocol import chain, keys
from protocol.lang import Lang
from protocol.messages import Grievance as GrievanceContent
from protocol.vessel import VesselSession
from shore_gateway.db import Database
from shore_gateway.models import Alert, DeviceKey, Grievance
from shore_gateway.pipeline_api import ArrivalMeta, Outcome
from shore_gateway.registry import (
    RegistryError,
    VesselIds,
    add_vessel,
    revoke_kid,
    rotate_key,
    vessel_keys,
)
from tests.helpers import det_rng
from tests.shore_gateway.conftest import make_pub_pem
from tests.shore_gateway.ingest.helpers import SHORE, T0, pipeline_for
from tests.shore_gateway.test_cli import flip

IMEI = "300234010753370"


def ok(*args: str) -> dict[str, Any]:
    r = flip(*args, "--json")
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def refused(*args: str) -> str:
    """Run a command that must fail the CONTRACTS way; return its JSON error."""
    r = flip(*args, "--json")
    return _refused(r.returncode, r.stdout, r.stderr)


def _refused(status: int, out: str, err: str) -> str:
    assert status == 1, (out, err)
    assert err.startswith("flip: error: ") and err.count("\n") == 1
    error: str = json.loads(out)["error"]
    assert error in err
    return error


class InProcess:
    """``ok`` / ``refused`` through :func:`flip.cli.main` in this process."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        status = main(["gateway", *args, "--json"])
        out, err = self.capsys.readouterr()
        return status, out, err

    def ok(self, *args: str) -> dict[str, Any]:
        status, out, err = self.run(*args)
        assert status == 0, err
        result: dict[str, Any] = json.loads(out)
        return result

    def refused(self, *args: str) -> str:
        status, out, err = self.run(*args)
        return _refused(status, out, err)


def pem_file(tmp_path: Path, key: Ed25519PrivateKey, name: str) -> str:
    path = tmp_path / f"{name}.pub"
    path.write_bytes(keys.public_pem(key.public_key()))
    return str(path)


def kid_of(key: Ed25519PrivateKey) -> str:
    return keys.key_id(key.public_key()).hex()


def session_for(key: Ed25519PrivateKey, after: VesselSession | None = None) -> VesselSession:
    """A vessel session signing with ``key``; with ``after``, the same agent's seqs and chain
    carried on under the new key (what ``rotate-key`` is for)."""
    return VesselSession(
        sign_key=key,
        shore_sign_pub=SHORE.sign.public_key(),
        shore_seal_pub=SHORE.seal.public_key(),
        next_seq=after.next_seq if after else 1,
        chain_value=after.chain_value if after else chain.GENESIS,
    )


def grievance_frame(session: VesselSession, text: str, now: int) -> bytes:
    session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text=text), now)
    (out,) = session.frames_to_send(now, max_frames=1)
    return out.data


@pytest.mark.slow
def test_rotate_list_revoke_and_the_pipeline_obeys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    db_arg = ["--db", url]
    old, new = keys.new_signing_key(det_rng("old box")), keys.new_signing_key(det_rng("new key"))
    added = ok(
        "vessel",
        "add",
        *db_arg,
        "--name",
        "Sea One",
        "--imei",
        IMEI,
        "--sign-pub",
        pem_file(tmp_path, old, "old"),
    )
    assert added["kid"] == kid_of(old)

    db = Database(url)
    pipeline = pipeline_for(db)
    momsn = iter(range(1, 100))

    def send(data: bytes) -> tuple[Outcome, str | None]:
        meta = ArrivalMeta(channel="directip", imei=IMEI, momsn=next(momsn))
        result = pipeline.ingest(data, meta)
        return result.outcome, result.reason

    try:
        box = session_for(old)
        assert send(grievance_frame(box, "before rotation", T0))[0] is Outcome.STORED

        rotated = ok(
            "vessel",
            "rotate-key",
            *db_arg,
            "--name",
            "Sea One",
            "--sign-pub",
            pem_file(tmp_path, new, "new"),
        )
        assert rotated == {
            "vessel": "Sea One",
            "kid": kid_of(new),
            "revoked": [],
            "live": [kid_of(old), kid_of(new)],
        }
        listed = ok("vessel", "keys", *db_arg, "--name", "Sea One")
        assert [(k["kid"], k["live"], k["revoked_at"]) for k in listed["keys"]] == [
            (kid_of(old), True, None),
            (kid_of(new), True, None),
        ]
        assert listed["keys"][1]["public_key"] == keys.raw_public(new.public_key()).hex()
        created = [dt.datetime.fromisoformat(k["created_at"]) for k in listed["keys"]]
        assert created[0] <= created[1] and created[0].tzinfo is not None

        # Both keys are live until the old one is revoked: the old box is still heard.
        assert send(grievance_frame(box, "overlap", T0 + 60))[0] is Outcome.STORED

        revoked = ok("vessel", "revoke-key", *db_arg, "--kid", kid_of(old).upper())
        assert revoked == {"vessel": "Sea One", "revoked": [kid_of(old)], "live": [kid_of(new)]}
        listed = ok("vessel", "keys", *db_arg, "--name", "Sea One")
        assert [k["live"] for k in listed["keys"]] == [False, True]
        assert dt.datetime.fromisoformat(listed["keys"][0]["revoked_at"]) >= created[0]

        # The same agent, now signing with the new key, carries on its seqs and chain;
        # the old box (lost, or its key leaked) still signs with the revoked one.
        agent = session_for(new, after=box)
        outcome, reason = send(grievance_frame(box, "from the revoked key", T0 + 120))
        assert outcome is Outcome.REJECTED and reason and reason.startswith("UnknownDevice")
        assert send(grievance_frame(agent, "with the new key", T0 + 180))[0] is Outcome.STORED
        agent.queue_heartbeat(T0 + 240)
        (hb,) = agent.frames_to_send(T0 + 240)
        assert send(hb.data)[0] is Outcome.STORED
        with db.session() as s:
            texts = sorted(g.text for g in s.exec(select(Grievance)).all())
            assert texts == ["before rotation", "overlap", "with the new key"]
            assert s.exec(select(Alert)).all() == []  # no gap, no chain disagreement
    finally:
        db.dispose()

    gone = ok("vessel", "revoke-key", *db_arg, "--all", "--name", "Sea One")
    assert gone == {"vessel": "Sea One", "revoked": [kid_of(new)], "live": []}
    human = flip("vessel", "keys", *db_arg, "--name", "Sea One")
    assert human.returncode == 0 and human.stdout.count("revoked") == 2


def test_rotate_key_with_revoke_old_and_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same checks in-process (``flip.cli.main``, what the ``flip`` script runs): fast."""
    cli = InProcess(capsys)
    db_arg = ["--db", f"sqlite:///{tmp_path / 'g.sqlite3'}"]
    one, two = keys.new_signing_key(det_rng("one")), keys.new_signing_key(det_rng("two"))
    cli.ok(
        "vessel",
        "add",
        *db_arg,
        "--name",
        "Sea One",
        "--imei",
        IMEI,
        "--sign-pub",
        pem_file(tmp_path, one, "one"),
    )
    named = ["--name", "Sea One"]

    # The same key twice: refused, and the revocation asked for with it is rolled back.
    error = cli.refused(
        "vessel",
        "rotate-key",
        *db_arg,
        *named,
        "--revoke-old",
        "--sign-pub",
        pem_file(tmp_path, one, "one"),
    )
    assert (
        error == f"that public key is already registered (vessel 'Sea One', key id {kid_of(one)})"
    )
    assert [k["live"] for k in cli.ok("vessel", "keys", *db_arg, *named)["keys"]] == [True]

    rotated = cli.ok(
        "vessel",
        "rotate-key",
        *db_arg,
        *named,
        "--revoke-old",
        "--sign-pub",
        pem_file(tmp_path, two, "two"),
    )
    assert rotated["revoked"] == [kid_of(one)] and rotated["live"] == [kid_of(two)]

    nobody = ["--name", "Nobody"]
    pub = pem_file(tmp_path, keys.new_signing_key(det_rng("three")), "three")
    assert cli.refused("vessel", "rotate-key", *db_arg, *nobody, "--sign-pub", pub) == (
        "no vessel named 'Nobody'"
    )
    assert "cannot read --sign-pub" in cli.refused(
        "vessel", "rotate-key", *db_arg, *named, "--sign-pub", str(tmp_path / "missing.pub")
    )
    assert cli.refused("vessel", "keys", *db_arg, *nobody) == "no vessel named 'Nobody'"
    assert (
        cli.refused("vessel", "revoke-key", *db_arg, "--all", *nobody) == "no vessel named 'Nobody'"
    )
    assert cli.refused("vessel", "revoke-key", *db_arg, "--kid", kid_of(two), *nobody) == (
        "no vessel named 'Nobody'"
    )
    for bad in ("xyz", "abcd", "0011223344", ""):
        assert cli.refused("vessel", "revoke-key", *db_arg, "--kid", bad).startswith(
            "--kid must be 8 hex digits"
        )
    assert cli.refused("vessel", "revoke-key", *db_arg, "--kid", "00000000") == (
        "no device key with key id 00000000"
    )
    assert cli.refused("vessel", "revoke-key", *db_arg, "--kid", kid_of(one)) == (
        f"device key {kid_of(one)} is already revoked"
    )
    assert cli.refused("vessel", "revoke-key", *db_arg, "--all").startswith("--all needs --name")
    # Nothing above changed the registry.
    listed = cli.ok("vessel", "keys", *db_arg, *named)["keys"]
    assert [(k["kid"], k["live"]) for k in listed] == [(kid_of(one), False), (kid_of(two), True)]
    cli.ok("vessel", "revoke-key", *db_arg, "--all", *named)
    assert cli.refused("vessel", "revoke-key", *db_arg, "--all", *named) == (
        "vessel 'Sea One' has no live key to revoke"
    )


def test_revoke_kid_refuses_a_kid_live_keys_of_two_vessels_share(sqlite_db: Database) -> None:
    """4-byte kids may collide: revoking by kid alone must not silence the wrong vessel."""
    with sqlite_db.session() as s:
        add_vessel(s, "Sea One", make_pub_pem(), VesselIds())
        add_vessel(s, "Sea Two", make_pub_pem(), VesselIds())
        (one,) = vessel_keys(s, "Sea One")
        (two,) = vessel_keys(s, "Sea Two")
        two.kid = one.kid  # a collision, made rather than searched for
        s.add(two)
    with sqlite_db.session() as s, pytest.raises(RegistryError, match="Sea One, Sea Two"):
        revoke_kid(s, one.kid)
    with sqlite_db.session() as s:
        vessel, revoked = revoke_kid(s, one.kid, vessel_name="Sea Two")
        assert vessel.name == "Sea Two" and [k.id for k in revoked] == [two.id]
    with sqlite_db.session() as s:
        live = {k.vessel_id: k.revoked_at is None for k in s.exec(select(DeviceKey)).all()}
        assert live == {one.vessel_id: True, two.vessel_id: False}
        with pytest.raises(RegistryError, match="already revoked"):
            revoke_kid(s, one.kid, vessel_name="Sea Two")


def test_rotate_key_revoke_old_stamps_the_given_time(sqlite_db: Database) -> None:
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with sqlite_db.session() as s:
        add_vessel(s, "Sea One", make_pub_pem(), VesselIds())
        new = rotate_key(s, "Sea One", make_pub_pem(), revoke_old=True, now=when)
        old, latest = vessel_keys(s, "Sea One")
        assert latest.id == new.id and latest.revoked_at is None
        assert old.revoked_at == when
