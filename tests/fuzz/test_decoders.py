"""Every decoder that reads outside bytes, fuzzed with Hypothesis: a value or a typed error,
never another exception (the targets in ``fuzz/targets.py``; streaming decoders are fed whole
and byte by byte inside the target). The same targets run coverage-guided under atheris in
``make soak`` (fuzz/run.py); a short smoke of each runs here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.nmea import nmea_checksum
from fuzz.seeds import seeds
from fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutations(name: str) -> st.SearchStrategy[bytes]:
    """A seed with a few bytes flipped, inserted or cut: reaches past the first length check."""
    base = seeds(name)

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(base)))
        for _ in range(draw(st.integers(0, 6))):
            op = draw(st.integers(0, 2))
            pos = draw(st.integers(0, len(data)))
            if op == 0 and pos < len(data):
                data[pos] = draw(st.integers(0, 255))
            elif op == 1:
                data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
            else:
                del data[pos : pos + draw(st.integers(1, 8))]
        return bytes(data)

    return mutate()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_accepted_as_values(name: str) -> None:
    for seed in seeds(name):
        TARGETS[name](seed)


@pytest.mark.parametrize("name", sorted(TARGETS))
@FUZZ
@given(data=st.data())
def test_any_bytes_value_or_typed_error(name: str, data: st.DataObject) -> None:
    raw = data.draw(st.one_of(st.binary(max_size=600), _mutations(name)))
    TARGETS[name](raw)


# --- structured inputs: shapes the decoder nearly accepts ---------------------------------

DIGITY = st.sampled_from(["0", "7", "65535", "65536", "-1", "²", "١٢", "1e3", " 12 ", "", "NaN"])
TEXTY = st.one_of(DIGITY, st.text(max_size=24))


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "imei",
                "momsn",
                "transmit_time",
                "iridium_latitude",
                "iridium_longitude",
                "iridium_cep",
                "data",
                "serial",
                "JWT",
            ]
        ),
        st.one_of(TEXTY, st.sampled_from(["300234010753370", "00ff", "25-11-20 12:00:00"])),
    )
)
def test_rockblock_fields(fields: dict[str, str]) -> None:
    TARGETS["rockblock"](urllib.parse.urlencode(fields).encode())
    TARGETS["rockblock"](json.dumps(fields).encode())


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXTY),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(
    env=st.dictionaries(
        st.sampled_from(["data", "imei", "momsn", "time", "lat", "lon", "cep_km"]),
        st.one_of(
            JSONISH,
            st.sampled_from(
                ["00ff", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2025-11-20"]
            ),
        ),
    )
)
def test_mqtt_envelopes(env: dict[str, object]) -> None:
    TARGETS["mqtt"](json.dumps(env).encode())


EPCIS_KEYS = [
    "type",
    "eventID",
    "eventTime",
    "bizStep",
    "action",
    "epcList",
    "quantityList",
    "inputQuantityList",
    "outputQuantityList",
    "epcClass",
    "quantity",
    "uom",
    "ilmd",
    "cbvmda:vesselCatchInformationList",
    "vesselCatchInformation",
    "vesselName",
    "vesselID",
    "imoNumber",
    "gdst:vesselTripDate",
    "cbvmda:unloadingPort",
    "readPoint",
    "bizLocation",
]


@FUZZ
@given(
    events=st.lists(
        st.dictionaries(st.sampled_from(EPCIS_KEYS), JSONISH, max_size=8) | JSONISH, max_size=5
    ),
    query=st.booleans(),
)
def test_epcis_documents(events: list[object], query: bool) -> None:
    body = {"eventList": events}
    doc = {"epcisBody": {"queryResults": {"resultsBody": body}} if query else body}
    TARGETS["epcis"](json.dumps(doc).encode())


NAF_CODES = [
    "SR",
    "ER",
    "AD",
    "FR",
    "RD",
    "RT",
    "TM",
    "RC",
    "IR",
    "XR",
    "NA",
    "LT",
    "LG",
    "LA",
    "LO",
    "SP",
    "CO",
    "DA",
    "TI",
    "lt",
    "da",
]


@FUZZ
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(NAF_CODES),
            st.one_of(
                DIGITY, st.from_regex(r"[NSEW+\-]?[0-9²]{0,8}(\.[0-9]{0,4})?", fullmatch=True)
            ),
        ),
        max_size=12,
    ),
    trailer=st.sampled_from(["//ER//", "//ER", "", "//"]),
)
def test_naf_lines(fields: list[tuple[str, str]], trailer: str) -> None:
    line = "//SR//" + "".join(f"{c}/{v}//" for c, v in fields) + trailer
    TARGETS["naf"](line.encode())


ARMOR = "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW`abcdefghijklmnopqrstuvw"


@FUZZ
@given(
    count=st.integers(0, 10),
    num=st.integers(0, 10),
    seq=st.sampled_from(["", "1", "9"]),
    payload=st.text(alphabet=ARMOR, max_size=60),
    fill=st.integers(0, 6),
    tag=st.sampled_from(["", "\\c:1700000000*7C\\", "\\c:99999999999999*00\\", "\\c:x\\"]),
)
def test_ais_sentences_with_good_checksums(
    count: int, num: int, seq: str, payload: str, fill: int, tag: str
) -> None:
    body = f"AIVDM,{count},{num},{seq},A,{payload},{fill}"
    TARGETS["ais"](f"{tag}!{body}*{nmea_checksum(body)}\n".encode())


@FUZZ
@given(
    talker=st.sampled_from(["GPRMC", "GNRMC", "GPGGA", "GPGSV"]),
    values=st.lists(
        st.one_of(DIGITY, st.sampled_from(["A", "V", "N", "S", "E", "W", "4807.038"])), max_size=14
    ),
)
def test_nmea_sentences_with_good_checksums(talker: str, values: list[str]) -> None:
    body = ",".join([talker, *values])
    TARGETS["nmea"](f"${body}*{nmea_checksum(body)}\r\n".encode())


@FUZZ
@given(
    command=st.sampled_from(
        [
            "AT+SBDWB=",
            "AT+SBDWT=",
            "AT+SBDD",
            "AT+SBDMTA=",
            "AT+CRIS",
            "AT+SBDIX",
            "ATE",
            "AT&K",
            "AT+CIER=",
            "AT*R",
        ]
    ),
    arg=st.one_of(DIGITY, st.text(max_size=12)),
)
def test_modem_commands_with_odd_arguments(command: str, arg: str) -> None:
    TARGETS["modem"](f"{command}{arg}\r".encode("latin-1", "replace") + b"AT\r")


# --- regressions the fuzzing found (each was an untyped exception before its fix) ----------

REGRESSIONS = [
    ("mqtt", b'{"data":"00","time":"0001-01-01T00:00:00+01:00"}'),  # OverflowError
    ("mqtt", b'{"data":"00","time":"9999-12-31T23:59:59-01:00"}'),  # OverflowError
    ("rockblock", "imei=300234010753370&momsn=²&data=00".encode()),  # ValueError → HTTP 500
    ("naf", "//SR//RC/X//DA/2023010²//TI/1200//LT/1.0//LG/2.0//ER//".encode()),
    ("naf", "//SR//RC/X//DA/20230101//TI/12²0//LT/1.0//LG/2.0//ER//".encode()),
    ("modem", b"AT+SBDWB=\xb2\r"),  # killed the emulator's serial thread
]


@pytest.mark.parametrize(("name", "data"), REGRESSIONS)
def test_fuzz_regressions(name: str, data: bytes) -> None:
    TARGETS[name](data)


def test_imo_with_superscript_digit_is_a_warning() -> None:
    from shore_gateway.context.epcis import imo_warning
    from shore_gateway.registry import normalise_imo

    assert imo_warning("907472²") is not None
    assert normalise_imo("IMO 907472²") == "907472"


# --- atheris smoke: the coverage-guided runner works on every target ----------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_atheris_smoke(name: str) -> None:
    pytest.importorskip("atheris")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "fuzz.run", name, "--runs", "2000", "--rss-limit-mb", "512"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Done 2000 runs" in proc.stderr + proc.stdout
