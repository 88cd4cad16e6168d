"""DirectIP codec: exact vectors, malformed input, and the fuzz invariant (any bytes → value or
typed error, whole or byte by byte)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import directip as d
from firmware_bridge.errors import DirectIPError, LocalDirectIPError, Malformed, Oversize, Truncated

IMEI = "300234010753370"


def mo(payload: bytes | None = b"hello", location: d.MOLocation | None = None) -> d.MOMessage:
    return d.MOMessage(
        header=d.MOHeader(
            cdr_reference=1234,
            imei=IMEI,
            session_status=0,
            momsn=65535,
            mtmsn=0,
            session_time=1_700_000_000,
        ),
        payload=payload,
        location=location,
    )


def test_mo_confirmation_exact_bytes() -> None:
    assert d.encode_mo_confirmation(True) == bytes.fromhex("01000405000101")
    assert d.encode_mo_confirmation(False) == bytes.fromhex("01000405000100")
    assert d.decode_mo_confirmation(bytes.fromhex("01000405000101")).success


def test_revision_0x31_is_tolerated_on_input_never_emitted() -> None:
    assert d.decode_mo_confirmation(bytes.fromhex("31000405000101")).success
    assert d.encode_mo(mo())[0] == 0x01


def test_mo_header_layout() -> None:
    raw = d.encode_mo(mo(b"\r\n\x00"))
    assert raw[:6] == bytes.fromhex("0100") + bytes([31 + 6]) + bytes.fromhex("01001c")
    assert raw[6:10] == (1234).to_bytes(4, "big")
    assert raw[10:25] == IMEI.encode()
    assert raw[25] == 0 and raw[26:28] == b"\xff\xff" and raw[28:30] == b"\x00\x00"
    assert raw[34:37] == bytes.fromhex("020003") and raw[37:] == b"\r\n\x00"


def test_mo_round_trip_with_location() -> None:
    loc = d.MOLocation.from_degrees(-12.5, -45.25, cep_km=3)
    message = mo(bytes(range(256)) + bytes(84), loc)
    decoded = d.decode_mo(d.encode_mo(message))
    assert decoded == message
    assert decoded.location is not None
    assert decoded.location.latitude == pytest.approx(-12.5)
    assert decoded.location.longitude == pytest.approx(-45.25)


def test_mt_round_trip_and_confirmation() -> None:
    message = d.MTMessage(
        header=d.MTHeader(client_message_id=7, imei=IMEI, disposition=d.MTDisposition.ASSIGN_MTMSN),
        payload=b"\x00\x01\r\n",
        priority=2,
    )
    assert d.decode_mt(d.encode_mt(message)) == message
    conf = d.MTConfirmation(client_message_id=7, imei=IMEI, auto_id_reference=99, status=-5)
    assert d.decode_mt_confirmation(d.encode_mt_confirmation(conf)) == conf
    assert not conf.ok


def test_unknown_iei_is_skipped() -> None:
    raw = d.encode_mo(mo())
    extra = bytes.fromhex("7f0002abcd")
    patched = bytes([1]) + (len(raw) - 3 + len(extra)).to_bytes(2, "big") + raw[3:] + extra
    assert d.decode_mo(patched) == mo()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", Truncated),
        (b"\x01\x00", Truncated),
        (bytes.fromhex("020004050001ff"), Malformed),  # unknown revision
        (bytes.fromhex("0100050500010101"), Truncated),  # overall length too long
        (bytes.fromhex("01000305000101"), Malformed),  # bytes after the end
        (bytes.fromhex("010004050002ff"), Truncated),  # IE longer than the message
        (bytes.fromhex("0100050500020101"), Malformed),  # confirmation IE of 2 bytes
        (bytes.fromhex("0100040700010101"[:14]), Malformed),  # no confirmation IE
    ],
)
def test_malformed_confirmations(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        d.decode_mo_confirmation(raw)


def test_malformed_mo() -> None:
    good = d.encode_mo(mo())
    with pytest.raises(Truncated):
        d.decode_mo(good[:-1])
    with pytest.raises(Malformed):  # header IE with a wrong length
        d.decode_mo(bytes.fromhex("010004010001ff"))
    with pytest.raises(Malformed):  # no header
        d.decode_mo(bytes.fromhex("0100050200026869"))
    dup = good[3 : 6 + 28]
    twice = bytes([1]) + (len(dup) * 2).to_bytes(2, "big") + dup + dup
    with pytest.raises(Malformed):
        d.decode_mo(twice)


def test_encode_rejects_bad_values() -> None:
    with pytest.raises(LocalDirectIPError):
        d.encode_mo(
            d.MOMessage(
                header=d.MOHeader(
                    cdr_reference=0, imei="123", session_status=0, momsn=0, mtmsn=0, session_time=0
                )
            )
        )
    with pytest.raises(LocalDirectIPError):
        d.encode_mo(mo(bytes(d.MAX_MO_PAYLOAD + 1)))
    with pytest.raises(LocalDirectIPError):
        d.MOLocation.from_degrees(91, 0)


def test_reader_framing_and_eof() -> None:
    a, b = d.encode_mo(mo(b"a")), d.encode_mo(mo(b"\r\nb"))
    reader = d.DirectIPReader()
    assert reader.receive_data(a + b[:5]) == [a]
    assert reader.pending == 5
    assert reader.receive_data(b[5:]) == [b]
    assert reader.receive_data(None) == []
    cut = d.DirectIPReader()
    cut.receive_data(a[:10])
    with pytest.raises(Truncated):
        cut.receive_data(None)


def test_reader_oversize_and_garbage() -> None:
    with pytest.raises(Oversize):
        d.DirectIPReader(max_message=100).receive_data(bytes.fromhex("01ffff"))
    with pytest.raises(Malformed):
        d.DirectIPReader().receive_data(b"GET / HTTP/1.1\r\n")


DECODERS = [d.decode_mo, d.decode_mt, d.decode_mo_confirmation, d.decode_mt_confirmation]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.sampled_from(DECODERS))
def test_any_bytes_value_or_typed_error(data: bytes, decode) -> None:  # type: ignore[no-untyped-def]
    try:
        decode(data)
    except DirectIPError:
        pass


@st.composite
def framed(draw: st.DrawFn) -> bytes:
    """Well-framed messages with random IEs inside, so decoders get past the pre-header."""
    ies = draw(
        st.lists(
            st.tuples(
                st.sampled_from([1, 2, 3, 5, 0x41, 0x42, 0x44, 0x46, 0x99]), st.binary(max_size=40)
            ),
            max_size=4,
        )
    )
    body = b"".join(bytes([i]) + len(b).to_bytes(2, "big") + b for i, b in ies)
    return bytes([draw(st.sampled_from([1, 0x31]))]) + len(body).to_bytes(2, "big") + body


@settings(max_examples=300, deadline=None)
@given(framed(), st.sampled_from(DECODERS))
def test_framed_random_ies_value_or_typed_error(data: bytes, decode) -> None:  # type: ignore[no-untyped-def]
    try:
        decode(data)
    except DirectIPError:
        pass


def _feed(chunks: list[bytes]) -> tuple[list[bytes], str | None]:
    reader = d.DirectIPReader(max_message=200)
    out: list[bytes] = []
    try:
        for chunk in chunks:
            out += reader.receive_data(chunk)
        out += reader.receive_data(None)
    except DirectIPError as exc:
        return out, type(exc).__name__
    return out, None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(framed(), st.binary(max_size=12)), max_size=4))
def test_reader_whole_equals_byte_by_byte(parts: list[bytes]) -> None:
    stream = b"".join(parts)
    whole = _feed([stream])
    single = _feed([stream[i : i + 1] for i in range(len(stream))])
    assert whole[1] == single[1]
    assert whole[0] == single[0] or whole[1] is not None


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.integers(0, 2**32 - 1),
    st.one_of(st.none(), st.binary(max_size=340)),
    st.one_of(
        st.none(),
        st.tuples(
            st.booleans(),
            st.booleans(),
            st.integers(0, 90),
            st.integers(0, 59999),
            st.integers(0, 180),
            st.integers(0, 59999),
            st.integers(0, 2**32 - 1),
        ),
    ),
)
def test_mo_round_trip_property(cdr, status, momsn, mtmsn, when, payload, loc) -> None:  # type: ignore[no-untyped-def]
    location = None
    if loc is not None:
        location = d.MOLocation(
            south=loc[0],
            west=loc[1],
            lat_degrees=loc[2],
            lat_thousandths_minute=loc[3],
            lon_degrees=loc[4],
            lon_thousandths_minute=loc[5],
            cep_km=loc[6],
        )
    message = d.MOMessage(
        header=d.MOHeader(
            cdr_reference=cdr,
            imei=IMEI,
            session_status=status,
            momsn=momsn,
            mtmsn=mtmsn,
            session_time=when,
        ),
        payload=payload,
        location=location,
    )
    assert d.decode_mo(d.encode_mo(message)) == message
