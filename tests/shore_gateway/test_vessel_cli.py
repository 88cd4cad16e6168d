"""`flip gateway vessel set-link`: a box moves to another modem; key, seqs and cases stay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flip.cli import main
from shore_gateway.db import Database
from shore_gateway.downlink import parse_route
from shore_gateway.registry import get_vessel, live_keys
from tests.shore_gateway.conftest import make_pub_pem

SBD_IMEI, IMT_IMEI = "300234010753370", "300434060007530"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main(["gateway", "vessel", *argv, "--json"])
    (line,) = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(line)


def test_a_vessel_moves_from_sbd_to_a_9704_and_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    pub = tmp_path / "v.pub"
    pub.write_bytes(make_pub_pem())
    add = ("add", "--db", url, "--name", "Sea One", "--imei", SBD_IMEI, "--sign-pub", str(pub))
    assert _run(capsys, *add, "--mt-url", "directip://127.0.0.1:10801")[0] == 0
    status, moved = _run(
        capsys, "set-link", "--db", url, "--name", "Sea One",
        "--imei", IMT_IMEI, "--mt-url", "cloudloop://thing-42",
    )  # fmt: skip
    assert status == 0
    assert moved == {
        "vessel": "Sea One",
        "imei": IMT_IMEI,
        "mt_url": "cloudloop://thing-42",
        "changed": {
            "imei": {"from": SBD_IMEI, "to": IMT_IMEI},
            "mt_url": {"from": "directip://127.0.0.1:10801", "to": "cloudloop://thing-42"},
        },
    }
    db = Database(url)
    with db.session() as s:
        vessel = get_vessel(s, "Sea One")
        assert (vessel.imei, parse_route(vessel.mt_url or "").kind) == (IMT_IMEI, "cloudloop")
        assert vessel.id is not None and len(live_keys(s, vessel.id)) == 1  # same device key
    db.dispose()
    # Back to the gateway-wide default route; asking again changes nothing and says so.
    status, back = _run(capsys, "set-link", "--db", url, "--name", "Sea One", "--mt-url", "")
    assert status == 0 and back["mt_url"] is None and set(back["changed"]) == {"mt_url"}
    status, same = _run(capsys, "set-link", "--db", url, "--name", "Sea One", "--imei", IMT_IMEI)
    assert status == 0 and same["changed"] == {}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--name", "Sea One"), "nothing to change"),
        (("--name", "Sea One", "--imei", "12345"), "15 digits"),
        (("--name", "Nobody", "--imei", IMT_IMEI), "no vessel named 'Nobody'"),
        (("--name", "Sea One", "--mt-url", "ftp://x"), "is not directip://HOST:PORT"),
    ],
)
def test_bad_moves_are_refused_in_one_line_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], error: str
) -> None:
    url = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    pub = tmp_path / "v.pub"
    pub.write_bytes(make_pub_pem())
    add = ("add", "--db", url, "--name", "Sea One", "--imei", SBD_IMEI, "--sign-pub", str(pub))
    assert _run(capsys, *add)[0] == 0
    status, out = _run(capsys, "set-link", "--db", url, *args)
    assert status == 1 and error in out["error"]
    db = Database(url)
    with db.session() as s:
        vessel = get_vessel(s, "Sea One")
        assert (vessel.imei, vessel.mt_url) == (SBD_IMEI, None)
    db.dispose()
