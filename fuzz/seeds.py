"""Seed inputs per fuzz target: one or more well-formed examples, so the fuzzer starts from
the valid shapes and mutates inward rather than guessing a COSE frame from nothing."""

from __future__ import annotations

import json
from pathlib import Path

from firmware_bridge import directip
from protocol import frame, keys
from protocol.crew import Grievance as GrievanceContent
from protocol.crew import encode_crew
from protocol.downlinks import Ack, CaseStatus, Config
from protocol.lang import Lang
from protocol.messages import encode_message
from protocol.text import encode_text
from protocol.vessel import VesselSession

EPCIS = (
    Path(__file__).resolve().parent.parent / "tests/shore_gateway/fixtures/gdst_1_2_fishing.jsonld"
)


def _uplink_frames() -> list[bytes]:
    from fuzz.targets import NOW, _device_key, _rng, _shore_key

    session = VesselSession(
        sign_key=_device_key(),
        shore_sign_pub=_shore_key().public_key(),
        shore_seal_pub=keys.new_sealing_key(_rng("fuzz seal")).public_key(),
    )
    session.queue_crew(GrievanceContent(category=0x17, lang=Lang.MY, text="လစာ မရပါ"), NOW)
    session.queue_heartbeat(NOW)
    session.queue_position(time=NOW - 60, lat=-4.6, lon=55.4, now=NOW)
    session.queue_crew(GrievanceContent(category=0x12, lang=Lang.TH, text="ก" * 500), NOW)
    return [f.data for f in session.frames_to_send(NOW, max_frames=16)]


def seeds(name: str) -> list[bytes]:
    """Seed inputs for one target of :data:`fuzz.targets.TARGETS`."""
    from fuzz.targets import NOW, _device_key, _shore_key

    if name in ("frame", "cbor"):
        return _uplink_frames()
    if name in ("payload", "shore"):
        return [frame.parse(f, max_size=frame.UPLINK_MAX).payload for f in _uplink_frames()] + [
            encode_crew(GrievanceContent(category=0x14, lang=Lang.EN, text="no pay"))
        ]
    if name == "downlink":
        vessel_kid = keys.key_id(_device_key().public_key())
        body = [
            encode_message(Ack(cum_seq=5, bitmap=b"\x05")),
            encode_message(CaseStatus(ref_seq=1, case_ref="C-1", status=2, note=1)),
            encode_message(Config(version=2, airtime_bytes_per_day=6000, report_interval_s=3600)),
        ]
        payload = frame.downlink_payload(vessel_kid, NOW, body)
        shore = _shore_key()
        return [payload, frame.sign(payload, shore, keys.key_id(shore.public_key()))]
    if name == "text":
        return [
            bytes([lang]) + encode_text(t, Lang(lang))
            for lang, t in (
                (2, "လစာ မရပါ ၃ လ"),
                (3, "นายจ้างยึดหนังสือเดินทาง"),
                (1, "no pay for 3 months"),
            )
        ]
    if name == "text_round_trip":  # language byte, then three bytes per code point
        samples = ((6, "Lương 😡 chưa trả"), (0, "陳船長🙏 화나😡 ok"), (2, "လစာ 👍🏽 ၃ လ"))
        return [
            bytes([lang]) + b"".join(ord(c).to_bytes(3, "big") for c in t) for lang, t in samples
        ]
    if name == "directip":
        mo = directip.MOMessage(
            header=directip.MOHeader(
                cdr_reference=1,
                imei="300234010753370",
                session_status=0,
                momsn=7,
                mtmsn=0,
                session_time=1_700_000_000,
            ),
            payload=_uplink_frames()[0],
            location=directip.MOLocation.from_degrees(-4.6, 55.4, 3),
        )
        return [directip.encode_mo(mo), directip.encode_mo_confirmation(True)]
    if name == "modem":
        return [
            b"AT\rAT+CSQ\rAT+SBDWB=5\rhello\x02\x14\rAT+SBDIX\rAT+SBDRB\rAT+SBDD2\r",
            b"ATE0\rAT+SBDWT=hi\rAT+SBDMTA=1\rAT+CRIS\rAT-MSSTM\rAT+SBDIXA\r",
        ]
    if name == "nmea":
        return [
            b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
            b"$GPGGA,123520,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4E\r\n"
        ]
    if name == "naf":
        return [
            b"//SR//AD/XXX//FR/GBR//RD/20230101//RT/1200//TM/POS//RC/MGXR6//"
            b"LT/+51.123//LG/-003.456//SP/105//CO/270//DA/20230101//TI/1200//ER//",
            b"//SR//TM/POS//IR/GBROOC21250//LA/S0437//LO/E05527//DA/230101//TI/1200//ER",
        ]
    if name == "ais":
        return [
            b"!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26\n"
            b"\\c:1700000000*7C\\!AIVDM,1,1,,B,B6CdCm0t3`tba35f@V9faHi7kP06,0*3E\n"
        ]
    if name == "epcis":
        return [EPCIS.read_bytes()] if EPCIS.exists() else [b'{"epcisBody":{"eventList":[]}}']
    if name == "rockblock":
        fields = {
            "imei": "300234010753370",
            "momsn": "12",
            "transmit_time": "25-11-20 12:00:00",
            "iridium_latitude": "-4.6",
            "iridium_longitude": "55.4",
            "iridium_cep": "3",
            "data": _uplink_frames()[-1].hex(),
        }
        form = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
        return [form, json.dumps(fields).encode()]
    if name == "mqtt":
        data = _uplink_frames()[-1]
        env = {
            "data": data.hex(),
            "imei": "300234010753370",
            "momsn": 17,
            "time": "2025-11-20T12:00:00Z",
            "lat": -4.61,
            "lon": 55.45,
            "cep_km": 3,
        }
        return [data, json.dumps(env).encode()]
    return [b""]
