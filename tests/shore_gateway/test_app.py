"""Ops endpoints, authorisation, the RockBLOCK webhook, and hostile input across the API."""

from __future__ import annotations

import binascii
import datetime as dt

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.ingest.rockblock import parse_transmit_time
from shore_gateway.models import RawFrame
from tests.shore_gateway.conftest import Gateway

FIELDS = {
    "imei": "300234010753370",
    "serial": "12345",
    "momsn": "42",
    "transmit_time": "24-05-01 12:34:56",
    "iridium_latitude": "-4.6123",
    "iridium_longitude": "55.4512",
    "iridium_cep": "3.0",
    "data": "a1b2c3d4",
}


def raw_frames(db: Database) -> list[RawFrame]:
    with db.session() as s:
        return list(s.exec(sa.select(RawFrame)).scalars().all())  # type: ignore[call-overload]


def test_healthz_metrics_openapi(gateway: Gateway) -> None:
    h = gateway.client.get("/healthz")
    assert h.status_code == 200 and h.json()["db"] == "ok" and h.json()["schema"]
    gateway.client.post("/ingest/rockblock", data=FIELDS)
    gateway.client.get("/api/vessels")  # 401
    m = gateway.client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'flip_gateway_frames_in_total{channel="rockblock"} 1.0' in m.text
    assert 'flip_gateway_http_rejected_total{status="401"} 1.0' in m.text
    assert "flip_gateway_pipeline_latency_seconds_bucket" in m.text
    paths = gateway.client.get("/openapi.json").json()["paths"]
    for path in ("/positions/naf", "/catch/epcis", "/ingest/rockblock", "/api/vessels"):
        assert path in paths


def test_vessels_by_role(gateway: Gateway) -> None:
    def names(token: str) -> list[str]:
        r = gateway.client.get("/api/vessels", headers=gateway.auth(token))
        assert r.status_code == 200
        return [v["name"] for v in r.json()]

    assert names(gateway.staff_token) == ["Other Boat", "Sea One"]
    assert names(gateway.owner_token) == ["Sea One"]
    assert names(gateway.buyer_token) == ["Other Boat"]
    r = gateway.client.get(
        "/api/vessels/Sea One/positions", headers=gateway.auth(gateway.owner_token)
    )
    assert r.status_code == 403
    r = gateway.client.get("/api/vessels/Nope/positions", headers=gateway.auth())
    assert r.status_code == 404 and "Nope" in r.json()["detail"]
    for header in ("Bearer", "Basic abc", "Bearer wrong", ""):
        r = gateway.client.get("/api/vessels", headers={"Authorization": header})
        assert r.status_code == 401


def test_positions_query_validation(gateway: Gateway) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "x"},
        {"start": "yesterday"},
        {"start": "2024-01-01T00:00"},
    ):
        r = gateway.client.get(
            "/api/vessels/Sea One/positions", params=params, headers=gateway.auth()
        )
        assert r.status_code == 422 and isinstance(r.json()["detail"], str)


def test_rockblock_form_and_json_store_raw_arrivals(gateway: Gateway) -> None:
    r = gateway.client.post("/ingest/rockblock", data=FIELDS)
    assert r.status_code == 200 and r.json()["status"] == "stored"
    r = gateway.client.post("/ingest/rockblock", data=FIELDS)  # provider retry
    assert r.json()["status"] == "duplicate"
    r = gateway.client.post("/ingest/rockblock", json={**FIELDS, "momsn": 43})
    assert r.status_code == 200 and r.json()["status"] == "stored"
    rows = raw_frames(gateway.db)
    assert len(rows) == 2
    row = rows[0]
    assert row.payload == binascii.unhexlify(FIELDS["data"])
    assert (row.channel, row.imei, row.momsn) == ("rockblock", FIELDS["imei"], 42)
    assert row.provider_time == dt.datetime(2024, 5, 1, 12, 34, 56, tzinfo=dt.UTC)
    assert row.provider_lat == pytest.approx(-4.6123) and row.provider_cep_km == 3.0


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"imei": "123"}, 400, "imei"),
        ({"momsn": "-1"}, 400, "momsn"),
        ({"momsn": "70000"}, 400, "momsn"),
        ({"data": "zz"}, 400, "hex"),
        ({"data": "abc"}, 400, "hex"),
        ({"data": ""}, 400, "empty"),
        ({"data": "00" * 341}, 413, "exceeds"),
        ({"transmit_time": "yesterday"}, 400, "transmit_time"),
        ({"iridium_latitude": "north"}, 400, "iridium_latitude"),
        ({"iridium_longitude": "200"}, 400, "range"),
    ],
)
def test_rockblock_malformed_fields(
    gateway: Gateway, change: dict[str, str], status: int, words: str
) -> None:
    r = gateway.client.post("/ingest/rockblock", data={**FIELDS, **change})
    assert r.status_code == status
    assert words in r.json()["detail"]
    assert raw_frames(gateway.db) == []
    assert gateway.client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("content", "ctype", "status"),
    [
        (b"{", "application/json", 400),
        (b"[1]", "application/json", 400),
        (b"imei=1", "text/plain", 415),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x", 400),
        (b"a" * (65 * 1024), "application/x-www-form-urlencoded", 413),
    ],
)
def test_rockblock_unparseable_bodies(
    gateway: Gateway, content: bytes, ctype: str, status: int
) -> None:
    r = gateway.client.post("/ingest/rockblock", content=content, headers={"Content-Type": ctype})
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str)
    assert raw_frames(gateway.db) == []


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rockblock_jwt(sqlite_db: Database, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    gw = Gateway(sqlite_db, Settings(db_url=sqlite_db.url, rockblock_jwt_public_key=pem))
    good = jwt.encode(FIELDS, rsa_key, algorithm="RS256")
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        ({**FIELDS}, 401),  # no JWT
        ({**FIELDS, "JWT": "not.a.jwt"}, 401),
        ({**FIELDS, "JWT": jwt.encode(FIELDS, forged_key, algorithm="RS256")}, 401),
        ({**FIELDS, "data": "ffff", "JWT": good}, 401),  # fields swapped under a good JWT
        ({**FIELDS, "JWT": jwt.encode({"imei": FIELDS["imei"]}, rsa_key, algorithm="RS256")}, 401),
        ({**FIELDS, "JWT": jwt.encode(FIELDS, "s" * 40, algorithm="HS256")}, 401),
    ]
    for form, status in cases:
        r = gw.client.post("/ingest/rockblock", data=form)
        assert r.status_code == status, (form, r.text)
    assert raw_frames(sqlite_db) == []
    r = gw.client.post("/ingest/rockblock", data={**FIELDS, "JWT": good})
    assert r.status_code == 200 and r.json()["status"] == "stored"


def test_transmit_time_format() -> None:
    assert parse_transmit_time("24-05-01 00:00:01") == dt.datetime(
        2024, 5, 1, 0, 0, 1, tzinfo=dt.UTC
    )


def test_bad_content_length_and_unknown_routes(gateway: Gateway) -> None:
    r = gateway.client.post(
        "/positions/naf", content=b"x", headers={**gateway.auth(), "Content-Length": "abc"}
    )
    assert r.status_code == 400
    r = gateway.client.get("/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
