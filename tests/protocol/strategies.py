"""Hypothesis strategies for protocol values."""

from __future__ import annotations

from hypothesis import strategies as st

from protocol.crew import Grievance, StatusRequest, Withdraw
from protocol.downlinks import Ack, CaseStatus, Config, KeyRotation
from protocol.lang import Lang
from protocol.limits import U32
from protocol.messages import CrewMessage, Fragment, Heartbeat, LostRange, Position

# Script blocks of the crew languages, plus ASCII, Latin with diacritics (vi), emoji.
SCRIPTS = [
    (0x1000, 0x109F),  # Myanmar
    (0x0E00, 0x0E7F),  # Thai
    (0x1780, 0x17FF),  # Khmer
    (0x0020, 0x007E),  # ASCII
    (0x00C0, 0x024F),  # Latin-1 / Extended
    (0x1EA0, 0x1EFF),  # Vietnamese
    (0x1F300, 0x1F64F),  # emoji
]


def crew_text(max_size: int = 300) -> st.SearchStrategy[str]:
    alphabets = [
        st.characters(min_codepoint=lo, max_codepoint=hi, exclude_categories=("Cs",))
        for lo, hi in SCRIPTS
    ]
    return st.one_of(
        *[st.text(a, max_size=max_size) for a in alphabets],
        st.text(st.one_of(*alphabets), max_size=max_size),
    )


seqs = st.integers(1, U32)
times = st.integers(0, U32)

grievances = st.builds(
    Grievance,
    category=st.integers(0, 255),
    lang=st.sampled_from(list(Lang)),
    text=crew_text(),
    pseudonym=st.none() | st.text(max_size=32),
)
crew_contents = st.one_of(
    grievances,
    st.builds(StatusRequest, ref_seq=seqs),
    st.builds(Withdraw, ref_seq=seqs),
)


@st.composite
def heartbeats_with_lost(draw: st.DrawFn) -> Heartbeat:
    """A heartbeat whose element 6 lists 0..8 ascending, disjoint ranges below its seq."""
    seq = draw(st.integers(2, U32))
    cuts = sorted(draw(st.sets(st.integers(1, seq - 1), max_size=16)))
    ranges = []
    for first, last in zip(cuts[::2], cuts[1::2], strict=False):
        ranges.append(LostRange(first=first, last=last, reason=draw(st.integers(1, 255))))
    if len(cuts) % 2 and len(ranges) < 8:
        ranges.append(LostRange(first=cuts[-1], last=cuts[-1], reason=draw(st.integers(1, 3))))
    listed = sum(r.size for r in ranges)
    return Heartbeat(
        seq=seq,
        time=draw(times),
        queue_depth=draw(st.integers(0, U32)),
        last_seq=seq - 1,
        chain=draw(st.binary(min_size=8, max_size=8)),
        lost_count=draw(st.integers(max(1, listed), U32)),
        lost=tuple(ranges[:8]),
    )


uplink_messages = st.one_of(
    heartbeats_with_lost(),
    st.builds(CrewMessage, seq=seqs, time=times, sealed=st.binary(min_size=48, max_size=200)),
    st.builds(
        Heartbeat,
        seq=seqs,
        time=times,
        queue_depth=st.integers(0, U32),
        last_seq=st.integers(0, U32),
        chain=st.binary(min_size=8, max_size=8),
    ),
    st.builds(
        Position,
        seq=seqs,
        time=times,
        lat=st.integers(-9_000_000, 9_000_000).map(lambda v: v / 1e5),
        lon=st.integers(-18_000_000, 18_000_000).map(lambda v: v / 1e5),
        speed_kn=st.integers(0, 10_000).map(lambda v: v / 10),
        course_deg=st.integers(0, 360),
    ),
    st.integers(2, 32).flatmap(
        lambda count: st.builds(
            Fragment,
            seq=st.integers(count, U32),
            index=st.just(count - 1),
            count=st.just(count),
            chunk=st.binary(min_size=1, max_size=200),
        )
    ),
)

downlink_messages = st.one_of(
    st.builds(
        Ack,
        cum_seq=st.integers(0, 10**6),
        bitmap=st.binary(max_size=32).map(lambda b: b.rstrip(b"\0")),
    ),
    st.builds(
        CaseStatus,
        ref_seq=seqs,
        case_ref=st.text(max_size=16),
        status=st.integers(0, 255),
        note=st.integers(0, 0xFFFF),
    ),
    st.builds(
        Config,
        version=st.integers(0, U32),
        airtime_bytes_per_day=st.integers(0, U32),
        report_interval_s=st.integers(60, 86400),
    ),
    st.builds(
        KeyRotation,
        epoch=st.integers(0, U32),
        sign_pub=st.binary(min_size=32, max_size=32),
        seal_pub=st.binary(min_size=32, max_size=32),
    ),
)


# --- unrestricted text: what the codec must give back byte for byte --------------------------

# Grapheme clusters and code points that break text codecs: ZWJ emoji sequences, skin tones,
# flags, text/emoji presentation (VS15/VS16), ideographic variation selectors (plane 14),
# combining marks and stacked scripts, BOM, NUL, controls, private use, CR LF.
_CLUSTERS = st.sampled_from(
    [
        "👨\u200d👩\u200d👧\u200d👦",
        "🏳\ufe0f\u200d🌈",
        "👍🏽",
        "❤\ufe0f",
        "☺\ufe0e",
        "🇲🇲",
        "葛\U000e0100",
        "e\u0301\u0323",
        "ก\u0e31\u0e49",
        "က\u103a\u1039",
        "ក\u17d2\u179a",
        "\u200b",
        "\ufeff",
        "\x00",
        "\r\n",
        "\x0c",
        "\uf8ff",
        "\U0010fffd",
    ]
)
_HARD_BLOCKS = [
    (0x0300, 0x036F),  # combining diacritics
    (0x3040, 0x30FF),  # Kana
    (0x4E00, 0x9FFF),  # CJK
    (0xAC00, 0xD7A3),  # Hangul
    (0xE000, 0xF8FF),  # private use (SCSU's U+E000 windows; UQU in Unicode mode)
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFF00, 0xFFFF),  # half/full width, specials
    (0x1F300, 0x1FAFF),  # emoji
    (0x20000, 0x2A6DF),  # CJK extension B (plane 2)
    (0xE0000, 0xE01EF),  # tags and variation selectors supplement (plane 14)
]
_PIECE = st.one_of(
    st.characters(exclude_categories=("Cs",)),  # any plane
    *[st.characters(min_codepoint=lo, max_codepoint=hi) for lo, hi in _HARD_BLOCKS + SCRIPTS],
    _CLUSTERS,
)


@st.composite
def any_text(draw: st.DrawFn, max_size: int = 2000) -> str:
    """Any Unicode text of 0–*max_size* characters: plain ``st.text()`` (all planes) or a mix of
    scripts, emoji sequences, combining marks and selectors, short or up to *max_size* long."""
    if draw(st.booleans()):
        return draw(st.text(max_size=max_size))
    size = draw(st.sampled_from([0, 1, 3, 20, 200, max_size]) | st.integers(0, max_size))
    pieces = draw(st.lists(_PIECE, min_size=min(size, 1), max_size=size))
    return "".join(pieces)[:max_size]
