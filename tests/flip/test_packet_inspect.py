"""`flip packet inspect` reads every golden frame, uplink and downlink, and names each refusal
with the typed error the decoders raise (tests/protocol/vectors/frames.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flip.cli import main

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests/protocol/vectors/frames.json").read_text("utf-8"))["vectors"]
# Refusals that need keys (whose signature, whose frame): inspect does not verify, it shows them.
NEEDS_KEYS = {"BadSignature", "UnknownDevice", "WrongRecipient", "SealBroken"}


def _inspect(
    capsys: pytest.CaptureFixture[str], path: Path, link: str = "sbd"
) -> tuple[int, dict[str, Any]]:
    status = main(["packet", "inspect", str(path), "--link", link, "--json"])
    (line,) = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(line)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_inspect_every_golden_frame(
    vector: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "frame.bin"
    path.write_bytes(bytes.fromhex(vector["frame"]))
    status, out = _inspect(capsys, path, vector.get("link", "sbd"))
    error = vector["expect"].get("error")
    if error and error not in NEEDS_KEYS:
        assert status == 1
        assert out["error"].split(":")[0] == error, out
        return
    assert status == 0, out
    assert out["direction"] == vector["direction"]
    assert out["verified"] is False
    if vector["direction"] == "downlink":
        assert out["to_kid"] == vector["expect"].get("to_kid", out["to_kid"])
        if "types" in vector["expect"]:
            kinds = {16: "ack", 17: "case_status", 18: "config", 19: "key_rotation"}
            assert [m["kind"] for m in out["messages"]] == [
                kinds[t] for t in vector["expect"]["types"]
            ]
        if "acks" in vector["expect"]:
            acks = [m for m in out["messages"] if m["kind"] == "ack"]
            assert [a["seqs"] for a in acks] == [
                a["acknowledged_above_cum_seq"] for a in vector["expect"]["acks"]
            ]
        if "shore_text" in vector["expect"]:
            assert [m["kind"] for m in out["messages"]] == ["shore_message"]
    elif "seqs" in vector["expect"]:
        seqs = [s for m in out["messages"] for s in m.get("stands_for_seqs", [m.get("seq")])]
        assert sorted(seqs) == sorted(vector["expect"]["seqs"])


def test_oversize_is_oversize_not_malformed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (vector,) = (v for v in VECTORS if v["name"] == "oversize")
    path = tmp_path / "big.bin"
    path.write_bytes(bytes.fromhex(vector["frame"]))
    status, out = _inspect(capsys, path)
    assert status == 1
    assert out["error"].startswith("Oversize:")
