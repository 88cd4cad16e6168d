"""POST /positions/naf and /positions/ais, GET positions: accounting, matching, bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyais import encode_dict

from tests.shore_gateway.conftest import Gateway

NAF_OK = (
    "//SR//AD/FRA//FR/GBR//RD/20201006//RT/2141//FS/GBR//RC/MGXR6//IR/GBROOC21250"
    "//DA/20201006//TI/1625//LT/53.254//LG/.940//SP/96//CO/8//TM/POS//ER//"
)
NAF_LEGACY = "//SR//TM/POS//IR/GBROOC21250//DA/201006//TI/1725//LA/N5320//LO/E00100//ER"


def post_text(gw: Gateway, path: str, body: bytes | str, token: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    headers = {**gw.auth(token), "Content-Type": "text/plain"}
    return gw.client.post(path, content=body, headers=headers, **kw)


def test_naf_batch_accounts_for_every_line(gateway: Gateway) -> None:
    body = "\n".join(
        [
            NAF_OK,
            "",
            "garbage",
            NAF_LEGACY,
            NAF_OK.replace("20201006//TI", "20201331//TI"),
            NAF_OK.replace("MGXR6", "NOPE1").replace("GBROOC21250", "X"),
            NAF_OK,  # duplicate: accepted again, stored once
        ]
    )
    r = post_text(gateway, "/positions/naf", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 3
    assert out["skipped"] == 1
    assert [x["line"] for x in out["rejected"]] == [3, 5, 6]
    assert "//SR" in out["rejected"][0]["error"]
    assert "real time" in out["rejected"][1]["error"]
    assert "no registered vessel" in out["rejected"][2]["error"]
    track = gateway.client.get("/api/vessels/Sea One/positions", headers=gateway.auth()).json()
    assert [(p["time"], p["source"]) for p in track] == [
        ("2020-10-06T16:25:00+00:00", "naf"),
        ("2020-10-06T17:25:00+00:00", "naf"),
    ]
    assert track[0]["speed_kn"] == 9.6
    at = gateway.client.get(
        "/api/vessels/Sea One/position",
        params={"at": "2020-10-06T16:55:00Z"},
        headers=gateway.auth(),
    ).json()
    assert at["method"] == "interpolated" and at["age_s"] == 1800
    assert 53.254 < at["lat"] < 53.34


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(st.text(max_size=80), st.sampled_from([NAF_OK, NAF_LEGACY])), max_size=8))
def test_naf_any_text_is_200_and_accounts_for_every_line(
    gateway: Gateway, lines: list[str]
) -> None:
    body = "\n".join(lines).encode("utf-8", "surrogatepass")
    r = post_text(gateway, "/positions/naf", body)
    assert r.status_code == 200
    out = r.json()
    assert out["accepted"] + len(out["rejected"]) + out["skipped"] == len(body.splitlines())


def test_naf_bad_bytes_and_limits(gateway: Gateway) -> None:
    r = post_text(gateway, "/positions/naf", b"\xff\xfe\n" + NAF_OK.encode())
    assert r.status_code == 200
    assert r.json()["rejected"] == [{"line": 1, "error": "not UTF-8 text"}]
    r = post_text(gateway, "/positions/naf", b"x" * (65 * 1024))
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    r = gateway.client.post("/positions/naf", json={"a": 1}, headers=gateway.auth())
    assert r.status_code == 415
    r = gateway.client.post(
        "/positions/naf", content=NAF_OK, headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 401
    r = post_text(gateway, "/positions/naf", NAF_OK, token="nope")
    assert r.status_code == 401
    r = post_text(gateway, "/positions/naf", NAF_OK, token=gateway.owner_token)
    assert r.status_code == 403
    assert gateway.client.get("/healthz").status_code == 200  # still serving


def test_ais_positions_static_and_multipart(gateway: Gateway) -> None:
    vdm = {"sentence_type": "VDM"}
    pos = encode_dict(
        {"type": 1, "mmsi": 235009802, "lat": -4.6, "lon": 55.45, "speed": 8.5, "course": 90},
        **vdm,
    )
    cls_b = encode_dict({"type": 18, "mmsi": 235009802, "lat": -4.7, "lon": 55.5}, **vdm)
    static = encode_dict(
        {"type": 5, "mmsi": 366053209, "imo": 0, "callsign": "ZZ123", "shipname": "OTHER BOAT"},
        **vdm,
    )
    assert len(static) == 2
    real = [
        "!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C",  # type 1, MMSI 366053209
        "!AIVDM,2,1,4,A,55O0W7`00001L@gCWGA2uItLth@DqtL5@F22220j1h742t0Ht0000000,0*08",
        "!AIVDM,2,2,4,A,000000000000000,2*20",  # type 5, MMSI 368060190 (not ours)
        "!AIVDM,1,1,,A,15Mj23P000G?q7fK>g:o7@1:0L3S,0*1C",  # checksum is 1B
    ]
    tagged = "\\c:1714564800*00\\" + pos[0]
    lines = [pos[0], *cls_b, *static, *real, tagged, static[0]]
    r = post_text(
        gateway, "/positions/ais", "\n".join(lines), params={"time": "2024-05-01T10:00:00Z"}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    rejected = {x["line"]: x["error"] for x in out["rejected"]}
    assert out["accepted"] + len(rejected) == len(lines)
    assert sorted(rejected) == [6, 7, 8, 10]
    assert "368060190" in rejected[6] and rejected[6] == rejected[7]
    assert "checksum" in rejected[8]
    assert "incomplete multi-sentence" in rejected[10]
    # The type 5 report bound MMSI 366053209 to "Other Boat" by its call sign, so the real
    # type 1 report from that MMSI that follows it is stored for that vessel.
    vessels = {
        v["name"]: v for v in gateway.client.get("/api/vessels", headers=gateway.auth()).json()
    }
    assert vessels["Other Boat"]["mmsi"] == "366053209"
    other = gateway.client.get("/api/vessels/Other Boat/positions", headers=gateway.auth()).json()
    assert [round(p["lat"], 3) for p in other] == [37.802]
    track = gateway.client.get("/api/vessels/Sea One/positions", headers=gateway.auth()).json()
    times = sorted(p["time"] for p in track)
    assert times == ["2024-05-01T10:00:00+00:00", "2024-05-01T12:00:00+00:00"]  # tag block c:
    assert {p["source"] for p in track} == {"ais"}


@pytest.mark.parametrize("bad", ["not-a-time", "2024-05-01T10:00:00"])
def test_ais_bad_time_parameter(gateway: Gateway, bad: str) -> None:
    r = post_text(gateway, "/positions/ais", "x", params={"time": bad})
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
