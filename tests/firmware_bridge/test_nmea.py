"""NMEA 0183 reader: checksums, RMC/GGA, and "bad lines are counted, never a crash"."""

from __future__ import annotations

import datetime as dt
import os
import tty

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import NMEAChecksumError, NMEASentenceError
from firmware_bridge.nmea import NMEAParser, NMEAReader, nmea_checksum, parse_sentence

RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
GGA_BODY = "GPGGA,123520,4807.038,S,01131.000,W,1,08,0.9,545.4,M,46.9,M,,"


def sentence(body: str) -> str:
    return f"${body}*{nmea_checksum(body)}"


GGA = sentence(GGA_BODY)


def test_checksum_vector() -> None:
    assert nmea_checksum(RMC[1:-3]) == "6A"


def test_rmc() -> None:
    fix = parse_sentence(RMC)
    assert fix is not None
    assert fix.time == dt.datetime(1994, 3, 23, 12, 35, 19, tzinfo=dt.UTC)
    assert fix.lat == pytest.approx(48.1173) and fix.lon == pytest.approx(11.516667)
    assert (fix.speed_kn, fix.course_deg, fix.source) == (22.4, 84.4, "GPRMC")


def test_gga_needs_a_date_and_takes_it_from_rmc() -> None:
    gga = GGA
    assert parse_sentence(gga) is None
    fix = parse_sentence(gga, dt.date(1994, 3, 23))
    assert fix is not None and fix.lat < 0 and fix.lon < 0 and fix.speed_kn is None


def test_gnrmc_and_void_and_other_sentences() -> None:
    gn = parse_sentence(sentence("GN" + RMC[3:-3]))
    assert gn is not None and gn.source == "GNRMC"
    assert parse_sentence(sentence(RMC[1:-3].replace(",A,", ",V,"))) is None
    assert parse_sentence(sentence("GPGSV,3,1,11")) is None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (RMC[:-2] + "00", NMEAChecksumError),
        (RMC[:-3], NMEAChecksumError),
        ("GPRMC,1*00", NMEASentenceError),
        (sentence("GPRMC,123519,A"), NMEASentenceError),
        (sentence("GPRMC,123519,A,48x7.038,N,01131.000,E,022.4,084.4,230394,,"), NMEASentenceError),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,320394,,"), NMEASentenceError),
        (sentence("GPRMC,123519,A,4807.038,Q,01131.000,E,022.4,084.4,230394,,"), NMEASentenceError),
    ],
)
def test_typed_errors(line: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_sentence(line)


def test_parser_counts_bad_lines_and_keeps_going() -> None:
    parser = NMEAParser()
    stream = f"junk\r\n{RMC[:-2]}00\r\n\xff\r\n{RMC}\r\n{GGA}\r\n".encode("latin-1")
    fixes = [f for i in range(len(stream)) for f in parser.receive_data(stream[i : i + 1])]
    assert [f.source for f in fixes] == ["GPRMC", "GPGGA"]
    assert parser.errors == {"checksum": 1, "sentence": 1, "not-ascii": 1}
    assert parser.receive_data(b"x" * 1000) == [] and parser.errors["overlong"] == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_never_crash(data: bytes) -> None:
    NMEAParser().receive_data(data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.,ANSEWV-GPRMCA", max_size=70))
def test_any_checksummed_sentence_is_value_or_typed_error(body: str) -> None:
    try:
        parse_sentence(sentence("GPRMC," + body))
        parse_sentence(sentence("GPGGA," + body), dt.date(2020, 1, 1))
    except (NMEAChecksumError, NMEASentenceError):
        pass


def test_reader_over_a_pty() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    reader = NMEAReader.open(os.ttyname(slave))
    try:
        os.write(master, f"{RMC}\r\n".encode())
        fix = reader.read_fix(timeout_s=2)
        assert fix is not None and fix.source == "GPRMC"
        assert reader.read_fix(timeout_s=0.1) is None
    finally:
        reader.close()
        os.close(master)
        os.close(slave)
