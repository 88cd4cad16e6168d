"""EPCIS/GDST: the real fixture loads, flaws are flagged not fatal, trips and lots are found."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from shore_gateway.context.epcis import (
    imo_warning,
    landed_lots,
    trip_at,
    trip_lots,
    trip_transshipments,
)
from shore_gateway.registry import get_vessel
from tests.shore_gateway.conftest import FIXTURES, Gateway

FIXTURE = json.loads((FIXTURES / "gdst_1_2_fishing.jsonld").read_text())
LOT = "urn:gdst:example.org:product:lot:class:fisherman01.tunau.v1-0122-2022"


def post(gw: Gateway, doc: object, token: str | None = None):  # type: ignore[no-untyped-def]
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return gw.client.post(
        "/catch/epcis",
        content=body,
        headers={**gw.auth(token), "Content-Type": "application/ld+json"},
    )


def test_real_fixture_loads_with_its_flaws_flagged(gateway: Gateway) -> None:
    r = post(gateway, FIXTURE)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1
    text = " ".join(out["warnings"])
    assert "not a valid UUID URN" in text
    assert "IMO12345678" in text and "8 digits" in text
    assert "not registered" in text  # "Vessel #1" is not in this gateway's registry
    again = post(gateway, FIXTURE).json()
    assert again["accepted"] == 1 and "already stored" in " ".join(again["warnings"])


def _chain(vessel_name: str) -> dict[str, object]:
    """The fixture's fishing event for our vessel, then transshipment, processing, landing."""
    doc = copy.deepcopy(FIXTURE)
    fishing = doc["epcisBody"]["eventList"][0]
    info = fishing["ilmd"]["cbvmda:vesselCatchInformationList"]["cbvmda:vesselCatchInformation"][0]
    info["cbvmda:vesselName"] = vessel_name
    info["gdst:imoNumber"] = "IMO 9074729"
    fishing["eventID"] = "urn:uuid:2fbb3592-c9fa-47ca-b419-b35528fee66f"
    processed = "urn:gdst:example.org:product:lot:class:processed.1"
    doc["epcisBody"]["eventList"] += [
        {
            "type": "ObjectEvent",
            "eventTime": "2022-01-23T00:00:00Z",
            "eventID": "urn:uuid:00000000-0000-4000-8000-000000000001",
            "action": "OBSERVE",
            "bizStep": "shipping",
            "quantityList": [{"epcClass": LOT, "quantity": 100.0, "uom": "KGM"}],
        },
        {
            "type": "TransformationEvent",
            "eventTime": "2022-01-24T00:00:00Z",
            "eventID": "urn:uuid:00000000-0000-4000-8000-000000000002",
            "inputQuantityList": [{"epcClass": LOT, "quantity": 100.0, "uom": "KGM"}],
            "outputQuantityList": [{"epcClass": processed, "quantity": 90.0, "uom": "KGM"}],
        },
        {
            "type": "ObjectEvent",
            "eventTime": "2022-01-25T00:00:00Z",
            "eventID": "urn:uuid:00000000-0000-4000-8000-000000000003",
            "action": "OBSERVE",
            "bizStep": "urn:epcglobal:cbv:bizstep:receiving",
            "cbvmda:unloadingPort": "THSGZ",
            "quantityList": [{"epcClass": processed, "quantity": 90.0, "uom": "KGM"}],
        },
        {"type": "ObjectEvent", "bizStep": "inspecting", "eventTime": "2022-01-26T00:00:00Z"},
    ]
    return doc


def test_trip_lots_landings_and_transshipments(gateway: Gateway) -> None:
    out = post(gateway, _chain("Sea One")).json()
    assert out["accepted"] == 4
    assert any("inspecting" in w and "skipped" in w for w in out["warnings"])
    assert not any("not registered" in w for w in out["warnings"])
    with gateway.db.session() as s:
        vessel = get_vessel(s, "Sea One")
        assert vessel.id is not None
        t = dt.datetime(2022, 1, 21, tzinfo=dt.UTC)
        trip = trip_at(s, vessel.id, t)
        assert trip is not None and trip.id is not None
        assert trip.trip_date == dt.datetime(2022, 1, 20, 10, 57, 24, 156000, tzinfo=dt.UTC)
        assert trip_at(s, vessel.id, dt.datetime(2022, 1, 1, tzinfo=dt.UTC)) is None
        lots = trip_lots(s, trip.id)
        assert {lot["epc_class"]: lot["landed"] for lot in lots} == {
            LOT: False,
            "urn:gdst:example.org:product:lot:class:processed.1": True,
        }
        assert landed_lots(s, vessel.id, t) == [
            "urn:gdst:example.org:product:lot:class:processed.1"
        ]
        assert [e.type for e in trip_transshipments(s, trip.id)] == ["transshipment"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[]", "JSON object"),
        (b"{}", "epcisBody"),
        (b'{"epcisBody": {}}', "eventList"),
        (b"[" * 50_000, "JSON"),
        (b'{"epcisBody": {"eventList": ["\\u0000"]}}', "NUL"),
        (b'{"epcisBody": {"eventList": [1]}, "x": ' + b"1" * 5000 + b"}", "JSON"),
    ],
)
def test_unusable_bodies_are_clear_400s(gateway: Gateway, body: bytes, words: str) -> None:
    r = post(gateway, body)
    assert r.status_code == 400
    assert words in r.json()["detail"]


def test_flawed_events_are_flagged_not_fatal(gateway: Gateway) -> None:
    doc = {
        "epcisBody": {
            "eventList": [
                "junk",
                {
                    "type": "ObjectEvent",
                    "action": "ADD",
                    "bizStep": "urn:gdst:bizStep:fishingEvent",
                },
                {"type": "TransformationEvent", "eventTime": "yesterday"},
            ]
        }
    }
    out = post(gateway, doc).json()
    assert out["accepted"] == 2
    text = " ".join(out["warnings"])
    for words in (
        "not a JSON object",
        "no eventID",
        "without vessel catch",
        "not ISO 8601",
        "no lots",
    ):
        assert words in text


def test_catch_needs_staff(gateway: Gateway) -> None:
    assert post(gateway, FIXTURE, token=gateway.owner_token).status_code == 403


@pytest.mark.parametrize(
    ("imo", "ok"),
    [("9074729", True), ("IMO 9074729", True), ("9074728", False), ("IMO12345678", False)],
)
def test_imo_check(imo: str, ok: bool) -> None:
    assert (imo_warning(imo) is None) == ok
