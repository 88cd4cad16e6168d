"""Compact text codec for the free-text field of a grievance.

An Iridium SBD frame carries at most 340 bytes (FIELD-FACTS §9), and Burmese, Thai or Khmer in
UTF-8 costs about three bytes per character. This module makes crew text small and decodes
anything a peer sends into a ``str`` or a typed error.

Every encoded text is **one codec byte followed by a body**. The codec byte is
``(dictionary_version << 4) | method``:

==========  =========  ==========================================================================
codec byte  method     body
==========  =========  ==========================================================================
``0x00``    0 stored   UTF-8 (RFC 3629), verbatim
``0x01``    1 stored   SCSU (Unicode Technical Standard #6), verbatim
``0x02``    2 deflate  raw deflate (RFC 1951) of UTF-8, *no* preset dictionary (version 0)
``0x03``    3 deflate  raw deflate (RFC 1951) of SCSU, *no* preset dictionary (version 0)
``0x12``    2 deflate  raw deflate of UTF-8 with the version-1 UTF-8 dictionary of the language
``0x13``    3 deflate  raw deflate of SCSU with the version-1 SCSU dictionary of the language
``0xV2``    2 deflate  … dictionary version V (only versions this build knows; others BadText)
other       —          :class:`~protocol.errors.BadText`
==========  =========  ==========================================================================

The low nibble is two flags and two reserved bits: bit 0 is the byte form (0 UTF-8, 1 SCSU),
bit 1 is deflate (0 stored, 1 raw deflate); bits 2–3 must be 0 (methods 4–15 are reserved).
Stored methods never use a dictionary, so their high nibble must be 0; a stored text therefore
stays readable whatever dictionaries come later.

The preset dictionary (RFC 1951 §3.2.5 lets a match reach back into it; zlib calls it ``zdict``)
is chosen by the :class:`~protocol.lang.Lang` carried beside the text on the wire, so it costs no
bytes. Each language has two: one of SCSU bytes for method 3, one of UTF-8 bytes for method 2.
They are the published data files of :mod:`protocol.dictionaries` (``v1-my-scsu.bin`` …),
produced by ``scripts/build_text_dictionary.py`` from a training corpus and checked at import
against their published SHA-256. The SCSU form is frozen as bytes rather than re-encoded because
UTS #6 lets encoders choose windows freely: a different SCSU encoder would produce different
dictionary bytes and silently corrupt every stored message. Any change to a dictionary's bytes
needs a new :data:`DICT_VERSION`; the old versions stay decodable for as long as messages made
with them may be in flight.

:func:`encode_text` tries every method, decodes each result again and drops any that does not
give back the exact input, then keeps the smallest body (ties go to the lower method number,
the simpler method), so short texts are never inflated by more than the codec byte. SCSU is
:mod:`protocol.scsu` (why not the PyPI ``scsu`` package: see there).

The module is sans-IO: pure functions, no clock or randomness; the dictionary files are read once
at import, like code.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping

from protocol import dictionaries, scsu
from protocol.errors import BadText, LocalProtocolError, Oversize, RemoteProtocolError
from protocol.lang import Lang

__all__ = ["DICT_VERSION", "REJECTED_CANDIDATES", "decode_text", "encode_text"]

DICT_VERSION = 1
"""Dictionary version written by :func:`encode_text` (high nibble of the codec byte)."""

STORED_UTF8 = 0
STORED_SCSU = 1
DEFLATE_UTF8 = 2
DEFLATE_SCSU = 3

_METHOD_NAMES = {
    STORED_UTF8: "stored UTF-8",
    STORED_SCSU: "stored SCSU",
    DEFLATE_UTF8: "deflate UTF-8",
    DEFLATE_SCSU: "deflate SCSU",
}

NUL_REFUSED = "text contains U+0000 (NUL), which no text field may hold"
"""A text field is Unicode scalar values other than U+0000: nobody types NUL, and PostgreSQL
(the gateway's store) cannot hold it in text. Refused on both sides, never stripped."""

REJECTED_CANDIDATES: Counter[str] = Counter()
"""Per method name, how many candidate bodies :func:`encode_text` dropped because they did not
decode back to the exact input (an encoder bug caught before sending). Counts only: no text."""

# Dictionary version → language → (SCSU-form dictionary, UTF-8-form dictionary).
# Version 0 is "no preset dictionary".
_EMPTY: Mapping[Lang, tuple[bytes, bytes]] = dict.fromkeys(Lang, (b"", b""))
_DICTIONARIES: Mapping[int, Mapping[Lang, tuple[bytes, bytes]]] = {
    0: _EMPTY,
    1: dictionaries.load(1),
}
assert DICT_VERSION in _DICTIONARIES  # import-time consistency check

# A character is at most 4 bytes in UTF-8; in SCSU at most 4 as well (SQU + surrogate pair in
# Unicode mode costs 4), plus a few window-definition tags. Bodies beyond this are refused
# before any character is decoded, and inflation stops at this many bytes.
_BYTES_PER_CHAR = 4
_SLACK = 16


def _zdict(version: int, lang: Lang, method: int) -> bytes:
    scsu_dict, utf8_dict = _DICTIONARIES[version][lang]
    return scsu_dict if method == DEFLATE_SCSU else utf8_dict


def _deflate(data: bytes, zdict: bytes) -> bytes:
    """Raw deflate (RFC 1951, no zlib header or checksum) at maximum effort."""
    if zdict:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY)
    return comp.compress(data) + comp.flush()


def encode_text(text: str, lang: Lang) -> bytes:
    """Encode *text* as one codec byte followed by the smallest body (see module docstring).

    *lang* selects the preset dictionary; the decoder must be given the same *lang*.

    Every candidate is decoded again with :func:`decode_text` and compared with *text* before it
    may win: a candidate that does not give back exactly *text* is dropped and counted in
    :data:`REJECTED_CANDIDATES` (never the text itself). Stored UTF-8 always survives, so a
    crew member's words are sent unchanged or not at all.

    Raises:
        LocalProtocolError: *text* is not encodable Unicode (e.g. contains a lone surrogate) or
            contains U+0000 (see :data:`NUL_REFUSED`).
    """
    try:
        utf8 = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"text is not valid Unicode: {exc.reason}") from exc
    if "\x00" in text:
        raise LocalProtocolError(NUL_REFUSED)
    scsu_bytes = scsu.encode(text)
    lang = Lang(lang)
    candidates = [
        (STORED_UTF8, utf8),
        (STORED_SCSU, scsu_bytes),
        (DEFLATE_UTF8, _deflate(utf8, _zdict(DICT_VERSION, lang, DEFLATE_UTF8))),
        (DEFLATE_SCSU, _deflate(scsu_bytes, _zdict(DICT_VERSION, lang, DEFLATE_SCSU))),
    ]
    verified = []
    for method, body in candidates:
        version = DICT_VERSION if method in (DEFLATE_UTF8, DEFLATE_SCSU) else 0
        encoded = bytes([version << 4 | method]) + body
        try:
            intact = decode_text(encoded, lang, max_chars=len(text)) == text
        except RemoteProtocolError:
            intact = False
        if intact:
            verified.append(encoded)
        else:
            REJECTED_CANDIDATES[_METHOD_NAMES[method]] += 1
    if not verified:  # pragma: no cover - stored UTF-8 always decodes to the input
        raise LocalProtocolError("no text encoding gives the text back unchanged")
    # Smallest first; equal sizes go to the lower method number (the simpler method).
    return min(verified, key=lambda encoded: (len(encoded), encoded[0] & 0x0F))


def _inflate(body: bytes, zdict: bytes, limit: int) -> bytes:
    """Inflate a raw deflate stream, producing at most *limit* bytes.

    ``max_length`` bounds the output, so a decompression bomb costs at most *limit* bytes of
    memory before it is refused.
    """
    try:
        inflater = zlib.decompressobj(-15, zdict=zdict) if zdict else zlib.decompressobj(-15)
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadText(f"corrupt deflate stream: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise Oversize(f"text inflates beyond {limit} bytes")
    if not inflater.eof:
        raise BadText("deflate stream ends before its final block")
    if inflater.unused_data:
        raise BadText(f"{len(inflater.unused_data)} bytes after the end of the deflate stream")
    return out


def _decode_scsu(raw: bytes) -> str:
    return scsu.decode(raw)  # BadText on invalid SCSU, unpaired surrogates included


def decode_text(data: bytes, lang: Lang, *, max_chars: int = 4096) -> str:
    """Decode the output of :func:`encode_text` (codec byte + body) back to ``str``.

    *lang* must be the language the sender used (it selects the preset dictionary).

    Raises:
        BadText: empty input, unknown method, unknown dictionary version, corrupt or truncated
            deflate stream, trailing bytes, invalid UTF-8 or SCSU, a U+0000 in the text.
        Oversize: the text would exceed *max_chars* characters, or the body (stored or inflated)
            exceeds ``4 * max_chars + 16`` bytes.
    """
    if not data:
        raise BadText("empty text field: no codec byte")
    try:
        lang = Lang(lang)
    except ValueError as exc:
        raise BadText(f"unknown language code {lang!r}") from exc
    codec, body = data[0], bytes(data[1:])
    version, method = codec >> 4, codec & 0x0F
    if method not in _METHOD_NAMES:
        raise BadText(f"unknown text method {method} (codec byte 0x{codec:02x})")
    limit = _BYTES_PER_CHAR * max_chars + _SLACK
    if method in (STORED_UTF8, STORED_SCSU):
        if version != 0:
            raise BadText(f"stored text with a dictionary version (codec byte 0x{codec:02x})")
        if len(body) > limit:
            raise Oversize(f"stored text of {len(body)} bytes exceeds {limit}")
        raw = body
    else:
        if version not in _DICTIONARIES:
            raise BadText(f"unknown text dictionary version {version} (codec byte 0x{codec:02x})")
        raw = _inflate(body, _zdict(version, lang, method), limit)
    if method in (STORED_UTF8, DEFLATE_UTF8):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadText(f"invalid UTF-8: {exc.reason}") from exc
    else:
        text = _decode_scsu(raw)
    if len(text) > max_chars:
        raise Oversize(f"text of {len(text)} characters exceeds {max_chars}")
    if "\x00" in text:
        raise BadText(NUL_REFUSED)
    return text
