"""NAF parsing table: every accepted form, real-world-like samples, and typed errors."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shore_gateway.context.naf import (
    NafBadDate,
    NafBadPosition,
    NafBadValue,
    NafError,
    NafMissingField,
    NafSyntaxError,
    parse_naf,
)

SAMPLE = (
    "//SR//AD/FRA//FR/GBR//RD/20201006//RT/2141//FS/GBR//RC/MGXR6//IR/GBROOC21250"
    "//DA/20201006//TI/1625//LT/53.254//LG/.940//SP/96//CO/8//TM/POS//ER//"
)


@pytest.mark.parametrize(
    ("line", "time", "lat", "lon"),
    [
        (SAMPLE, dt.datetime(2020, 10, 6, 16, 25, tzinfo=dt.UTC), 53.254, 0.94),
        (SAMPLE[:-2], dt.datetime(2020, 10, 6, 16, 25, tzinfo=dt.UTC), 53.254, 0.94),  # //ER
        (
            "//SR//TM/POS//RC/ABC12//DA/991231//TI/2359//LA/S0437//LO/E05527//ER//",
            dt.datetime(1999, 12, 31, 23, 59, tzinfo=dt.UTC),
            -(4 + 37 / 60),
            55 + 27 / 60,
        ),
        (
            "//SR//TM/POS//IR/THA000123//DA/240229//TI/0000//LA/N1300//LO/W17959//ER",
            dt.datetime(2024, 2, 29, 0, 0, tzinfo=dt.UTC),
            13.0,
            -(179 + 59 / 60),
        ),
        (
            "//SR//TM/POS//XR/9074729//DA/20240501//TI/0130//LT/-12.5//LG/-179.999//ER//",
            dt.datetime(2024, 5, 1, 1, 30, tzinfo=dt.UTC),
            -12.5,
            -179.999,
        ),
        (
            "  //sr//tm/POS//rc/ mgxr6 //da/20240501//ti/0130//lt/+1.//lg/2//er//  ",
            dt.datetime(2024, 5, 1, 1, 30, tzinfo=dt.UTC),
            1.0,
            2.0,
        ),
    ],
)
def test_accepted_forms(line: str, time: dt.datetime, lat: float, lon: float) -> None:
    report = parse_naf(line)
    assert report.time == time
    assert report.lat == pytest.approx(lat)
    assert report.lon == pytest.approx(lon)


def test_sample_fields() -> None:
    report = parse_naf(SAMPLE)
    assert report.ircs == "MGXR6"
    assert report.registry_no == "GBROOC21250"
    assert report.flag == "GBR"
    assert report.speed_kn == 9.6
    assert report.course == 8.0
    assert report.msg_type == "POS"


@pytest.mark.parametrize(
    ("line", "error", "words"),
    [
        ("", NafSyntaxError, "empty"),
        ("hello", NafSyntaxError, "//SR"),
        ("//SR//RC/A//DA/20200101//TI/1200//LT/1//LG/1", NafSyntaxError, "ER"),
        ("//SR//RC/A//RC/B//DA/20200101//TI/1200//LT/1//LG/1//ER//", NafSyntaxError, "twice"),
        ("//SR//RCA//DA/20200101//TI/1200//LT/1//LG/1//ER//", NafSyntaxError, "CODE/value"),
        ("//SR//RC/A//DA/20200101//TI/1200//LT/1//LG/1//ER//\x00", NafSyntaxError, "control"),
        ("//SR//DA/20200101//TI/1200//LT/1//LG/1//ER//", NafMissingField, "identifier"),
        ("//SR//RC/A//TI/1200//LT/1//LG/1//ER//", NafMissingField, "DA"),
        ("//SR//RC/A//DA/20200101//LT/1//LG/1//ER//", NafMissingField, "TI"),
        ("//SR//RC/A//DA/20200101//TI/1200//LG/1//ER//", NafMissingField, "latitude"),
        ("//SR//RC/A//DA/20200101//TI/1200//LT/1//ER//", NafMissingField, "longitude"),
        ("//SR//RC/A//DA/20230231//TI/1200//LT/1//LG/1//ER//", NafBadDate, "real time"),
        ("//SR//RC/A//DA/2023011//TI/1200//LT/1//LG/1//ER//", NafBadDate, "YYYYMMDD"),
        ("//SR//RC/A//DA/20230101//TI/2460//LT/1//LG/1//ER//", NafBadDate, "real time"),
        ("//SR//RC/A//DA/20230101//TI/12:00//LT/1//LG/1//ER//", NafBadDate, "HHMM"),
        ("//SR//RC/A//DA/20230101//TI/1200//LT/91//LG/1//ER//", NafBadPosition, "±90"),
        ("//SR//RC/A//DA/20230101//TI/1200//LT/1//LG/1e2//ER//", NafBadPosition, "decimal"),
        ("//SR//RC/A//DA/20230101//TI/1200//LA/S0460//LO/E05527//ER//", NafBadPosition, "60"),
        ("//SR//RC/A//DA/20230101//TI/1200//LA/0437//LO/E05527//ER//", NafBadPosition, "DDMM"),
        ("//SR//RC/A//DA/20230101//TI/1200//LA/N0437//LO/E18100//ER//", NafBadPosition, "±180"),
        ("//SR//RC/A//DA/20230101//TI/1200//LT/1//LG/1//SP/fast//ER//", NafBadValue, "SP"),
        ("//SR//RC/A//DA/20230101//TI/1200//LT/1//LG/1//CO/400//ER//", NafBadValue, "CO"),
    ],
)
def test_bad_lines_raise_typed_errors(line: str, error: type[NafError], words: str) -> None:
    with pytest.raises(error, match=words.replace("+", r"\+")):
        parse_naf(line)


@given(st.text(max_size=300))
def test_any_text_gives_a_report_or_a_naf_error(text: str) -> None:
    try:
        parse_naf(text)
    except NafError:
        pass
