"""Every byte count of docs/wire-format.md that this test owns is computed here, from the golden
vectors and the real encoders, and compared with the doc — so the doc cannot drift again.

The doc marks what is checked:

* a table after ``<!-- sizes:NAME -->``: its first column names a row (a label, or a message
  type number), one column is the size; every labelled row this test computes must be there
  with the computed value, and the table may hold no other labelled row — except in the
  message-type tables, where rows of types this test does not know belong to other sections
  and are left alone;
* an inline number after ``<!--size:KEY-->``, e.g. ``<!--size:hb-example-->21 bytes``;
* a hex dump after ``<!-- dump:VECTOR NAME -->``: its hex bytes, with ``…`` for bytes left
  out, must be exactly the frame of that golden vector.

Sections without markers (written and checked elsewhere) are not read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import cbor, dictionaries, frame, links
from protocol.fragment import max_single
from protocol.lang import Lang
from protocol.limits import U32
from protocol.messages import (
    CrewMessage,
    Fragment,
    Heartbeat,
    LossReason,
    LostRange,
    Position,
    encode_message,
)
from protocol.shore import open_crew, verify_frame

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "wire-format.md").read_text("utf-8")
VECTORS = json.loads((Path(__file__).parent / "vectors" / "frames.json").read_text("utf-8"))
K = VECTORS["keys"]
VESSEL = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(K["vessel_sign_private_raw"]))
SEAL = X25519PrivateKey.from_private_bytes(bytes.fromhex(K["shore_seal_private_raw"]))
KID = bytes.fromhex(K["vessel_kid"])
T = 1_763_640_000  # any time of this century costs 5 bytes, like every real one
Size = int | tuple[int, int]


def _vector(name: str) -> bytes:
    (vector,) = (v for v in VECTORS["vectors"] if v["name"] == name)
    return bytes.fromhex(vector["frame"])


def _cbor_len(value: Any) -> int:
    return len(cbor.dumps(value))


def _span(build: Callable[[int], int], lo: int, hi: int) -> tuple[int, int]:
    return (build(lo), build(hi))


# --- §1 frame, §2 payload ----------------------------------------------------------------


def _frame_sizes() -> dict[str, Size]:
    def overhead(payload_len: int) -> int:
        return len(frame.sign(bytes(payload_len), VESSEL, KID)) - payload_len

    def fits(n: int) -> bool:  # one message of n bytes, alone in an uplink frame
        return len(frame.sign(frame.uplink_payload([bytes(n)]), VESSEL, KID)) <= frame.UPLINK_MAX

    alone = max(n for n in range(200, 340) if fits(n))
    return {
        "array(4) head": 1,
        "protected header": _cbor_len(cbor.dumps({1: -8})),
        "unprotected header (kid)": _cbor_len({4: KID}),
        "payload bstr head, payload of 24–255 B": overhead(100) - overhead(10) + 1,
        "payload bstr head, payload of 256 B or more": overhead(300) - overhead(10) + 1,
        "signature": _cbor_len(bytes(64)),
        "fixed cost, payload of 24–255 B": overhead(100),
        "fixed cost, payload of 256 B or more": overhead(300),
        "largest uplink frame (SBD MO)": frame.UPLINK_MAX,
        "largest downlink frame (SBD MT)": frame.DOWNLINK_MAX,
        "largest message sent alone in one uplink frame": alone,
        "uplink payload around 1–23 messages": len(frame.uplink_payload([b""] * 23)),
        "uplink payload around 24–64 messages": len(frame.uplink_payload([b""] * 64)),
        "downlink payload around 1–23 messages": len(frame.downlink_payload(KID, T, [b""] * 23)),
    }


def _link_sizes() -> dict[str, Size]:
    def overhead(payload_len: int) -> int:
        return frame.frame_size(payload_len) - payload_len

    return {
        "largest frame, SBD MO (DirectIP, RockBLOCK webhook, MQTT from provider connectors)": (
            links.SBD.uplink
        ),
        "largest frame, SBD MT": links.SBD.downlink,
        "largest frame, IMT MO and MT (Cloudloop webhook and Data API)": links.IMT.uplink,
        "largest frame, broadband (`POST /ingest/frames` and its answer)": links.IP.uplink,
        "payload bstr head, payload of 65,536 B or more": overhead(70_000) - overhead(100) + 2,
        "fixed cost, payload of 65,536 B or more": overhead(70_000),
        "largest message sent alone in a 100,000-byte frame": max_single(links.IMT.uplink),
        "most messages in a payload of up to 340 B": links.max_messages(links.SBD.uplink),
        "most messages in a larger payload": links.max_messages(links.SBD.uplink + 1),
    }


# --- §3 messages ---------------------------------------------------------------------------


def _message_sizes() -> dict[str, Size]:
    def heartbeat(
        seq: int, big: bool = False, lost: tuple[LostRange, ...] = (), count: int | None = None
    ) -> int:
        if count is None:
            count = sum(r.last - r.first + 1 for r in lost)
        msg = Heartbeat(
            seq=seq,
            time=T,
            queue_depth=U32 if big else 0,
            last_seq=seq - 1,
            chain=bytes(8),
            lost_count=count,
            lost=lost,
        )
        return len(encode_message(msg))

    def position(seq: int) -> int:
        if seq == 1:
            msg = Position(seq=1, time=T, lat=0.0, lon=0.0, speed_kn=0.0, course_deg=0)
        else:
            msg = Position(seq=seq, time=T, lat=-90.0, lon=-180.0, speed_kn=1000.0, course_deg=360)
        return len(encode_message(msg))

    def crew_header(seq: int, sealed_len: int) -> int:
        msg = CrewMessage(seq=seq, time=T, sealed=bytes(sealed_len))
        return len(encode_message(msg)) - sealed_len

    def fragment_header(seq: int, index: int, count: int, chunk: int) -> int:
        msg = Fragment(seq=seq, index=index, count=count, chunk=bytes(chunk))
        return len(encode_message(msg)) - chunk

    big = U32 - 100
    eight = tuple(
        LostRange(first=big + 10 * k, last=big + 10 * k + 1, reason=255) for k in range(8)
    )
    example_lost = (
        LostRange(first=30, last=32, reason=LossReason.EVICTED),
        LostRange(first=38, last=38, reason=LossReason.DAMAGED),
    )
    return {
        "1": (crew_header(1, 49), crew_header(U32, 300)),
        "2": (heartbeat(1), heartbeat(U32, big=True)),
        "2 with element 6": (  # [count, []] … eight ranges of 5-byte seqs, count near 2³²
            heartbeat(2, count=1) - heartbeat(2),
            heartbeat(U32, big=True, lost=eight, count=U32) - heartbeat(U32, big=True),
        ),
        "3": (position(1), position(U32)),
        "15": (fragment_header(2, 1, 2, 10), fragment_header(U32, 31, 32, 300)),
        "heartbeat with eight ranges, largest": heartbeat(U32, big=True, lost=eight, count=U32),
        "hb-example": heartbeat(42),
        "hb-lost-example": heartbeat(42, lost=example_lost),
    }


def _grievance_sizes() -> dict[str, Size]:
    def head(category: int, text_len: int) -> int:
        # [1, category, lang, text]: array head, kind, category, lang, bstr head of the text
        return _cbor_len([1, category, int(Lang.MY), bytes(text_len)]) - text_len

    return {
        "category 0x00–0x17": _cbor_len(0x17),
        "category 0x18–0xFF": _cbor_len(0x18),
        "grievance head, category ≤ 0x17, text < 24 B": head(0x17, 10),
        "grievance head, category ≥ 0x18, text of 24–255 B": head(0xF1, 100),
        "HPKE: enc + tag": 48,
    }


# --- §5 text codec ---------------------------------------------------------------------------


def _dictionary_rows() -> dict[str, tuple[int, str]]:
    folder = Path(dictionaries.__file__).parent
    rows = {}
    for lang in Lang:
        for form in dictionaries.FORMS:
            data = (folder / dictionaries.filename(1, lang, form)).read_bytes()
            rows[dictionaries.filename(1, lang, form)] = (
                len(data),
                hashlib.sha256(data).hexdigest()[:16],
            )
    return rows


# --- §9 worked example ----------------------------------------------------------------------


def _example_sizes() -> dict[str, Size]:
    first = _vector("position and heartbeat")
    data = _vector("grievance my 0x17")
    _, sign1 = verify_frame(data, lambda kid: [("v", VESSEL.public_key())])
    ((msg, encoded),) = frame.parse_uplink(sign1.payload)
    assert isinstance(msg, CrewMessage)
    content = open_crew(msg, sign1.kid, [SEAL])
    from protocol.messages import encode_crew
    from protocol.text import encode_text

    plaintext = encode_crew(content)
    text = getattr(content, "text", "")
    return {
        "example-frame": len(first),
        "example-payload": len(frame.parse(first, max_size=frame.UPLINK_MAX).payload),
        "my-chars": len(text),
        "my-utf8": len(text.encode()),
        "my-frame": len(data),
        "my-frame-overhead": len(data) - len(sign1.payload),
        "my-payload-overhead": len(sign1.payload) - len(encoded),
        "my-header": len(encoded) - len(msg.sealed),
        "my-hpke": len(msg.sealed) - len(plaintext),
        "my-content": len(plaintext),
        "my-text": len(encode_text(text, Lang.MY)),
    }


# --- reading the doc -------------------------------------------------------------------------


def _table_after(marker: str) -> list[list[str]]:
    at = DOC.index(f"<!-- sizes:{marker} -->")
    rows: list[list[str]] = []
    for line in DOC[at:].splitlines()[1:]:
        if not line.strip():
            if rows:
                break
            continue
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows[1:]  # without the header row


def _number(cell: str) -> Size:
    cell = cell.replace("**", "").replace(",", "")
    found = [int(n) for n in re.findall(r"\d+", cell)]
    if "–" in cell:
        return (found[0], found[1])
    return found[0]


def _sized(marker: str, column: int) -> dict[str, Size]:
    return {row[0].strip("`"): _number(row[column]) for row in _table_after(marker)}


@pytest.mark.parametrize(
    ("marker", "column", "compute"),
    [("frame", 1, _frame_sizes), ("grievance", 1, _grievance_sizes), ("links", 1, _link_sizes)],
)
def test_size_table(marker: str, column: int, compute: Callable[[], dict[str, Size]]) -> None:
    assert _sized(marker, column) == compute()


def test_message_type_table() -> None:
    """Rows of the types computed here must say so; rows of other types are other sections'."""
    computed = _message_sizes()
    in_doc = {row[0]: _number(row[3]) for row in _table_after("uplink-types")}
    for type_ in ("1", "2", "3", "15"):
        assert in_doc[type_] == computed[type_], type_
    assert _sized("heartbeat-lost", 1) == {
        "element 6": computed["2 with element 6"],
        "heartbeat with eight ranges, largest": computed["heartbeat with eight ranges, largest"],
    }


def test_dictionary_table() -> None:
    rows = _table_after("dictionaries")
    in_doc = {row[0].strip("`"): (_number(row[2]), row[3].strip("`")) for row in rows}
    assert in_doc == _dictionary_rows()
    assert f"`{dictionaries.SHA256[1]}`" in DOC


def test_inline_sizes() -> None:
    computed = {**_message_sizes(), **_example_sizes()}
    found = {
        key: int(n.replace(",", "")) for key, n in re.findall(r"<!--size:([\w-]+)-->([\d,]+)", DOC)
    }
    assert found == {key: computed[key] for key in found}
    assert set(found) == set(_example_sizes()) | {"hb-example", "hb-lost-example"}


def test_hex_dumps_are_the_vectors() -> None:
    dumps = re.findall(r"<!-- dump:([^>]+?) -->\s*```\n(.*?)```", DOC, re.S)
    assert {name for name, _ in dumps} >= {"position and heartbeat"}
    for name, block in dumps:
        segments = [""]
        for line in block.splitlines():
            tokens = re.match(r"\s*((?:(?:[0-9a-f]{2}|…)(?: |$))+)", line)
            for token in tokens.group(1).split() if tokens else []:
                if token == "…":
                    segments.append("")
                else:
                    segments[-1] += token
        pattern = "(?:[0-9a-f]{2})*?".join(map(re.escape, segments))
        assert re.fullmatch(pattern, _vector(name).hex()), name


def test_ack_readings_are_the_vectors() -> None:
    """The doc's ack table: each ack is in its vector, and acknowledges the seqs written."""
    rows = re.findall(
        r"^\| `\[16, (\d+), h'([0-9a-f]*)'(?:, (\d+))?\]` \(\*(.+?)\*\) \| (.+?) \|$", DOC, re.M
    )
    assert len(rows) >= 3
    for cum, bitmap, base, name, written in rows:
        (vector,) = (v for v in VECTORS["vectors"] if v["name"] == name)
        ack = {"cum_seq": int(cum), "bitmap": bitmap, "base": int(base) if base else int(cum) + 1}
        (match,) = (a for a in vector["expect"]["acks"] if {k: a[k] for k in ack} == ack)
        first, *above = [part.strip() for part in written.split(",")]
        assert first == f"1–{cum}"
        assert [int(s) for s in above] == match["acknowledged_above_cum_seq"]
