"""The one formatter of times for people (shore_gateway/web/timefmt.py) and the portal
catalogs it reads its phrases from."""

from __future__ import annotations

import datetime as dt
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shore_gateway.web import catalog
from shore_gateway.web.timefmt import BadTimeZone, Humane, zone

NOW = dt.datetime(2026, 12, 4, 3, 26, 17, 325545, tzinfo=dt.UTC)
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
H = Humane(now=NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 sec"),
        (59, "59 sec"),
        (60, "1 min"),
        (7800, "2 hr 10 min"),
        (10800, "3 hr"),
        (10859, "3 hr"),
        (183660, "2 days 3 hr"),
        (172860, "2 days"),
        (-7800, "2 hr 10 min"),
    ],
)
def test_durations(seconds: float, text: str) -> None:
    assert H.duration(seconds) == text


def test_clocks_and_relative_times() -> None:
    soon = H.clock(NOW + dt.timedelta(hours=2, minutes=10, seconds=30))
    late = H.clock(NOW - dt.timedelta(hours=3, seconds=5))
    assert soon == {"text": "in 2 hr 10 min", "overdue": False, "seconds": 7830}
    assert late == {"text": "overdue by 3 hr", "overdue": True, "seconds": -10805}
    assert H.clock(None) is None
    assert H.ago(NOW - dt.timedelta(seconds=3615)) == "1 hr ago"
    assert H.ago(NOW + dt.timedelta(minutes=5)) == "in 5 min"
    assert H.ago(NOW - dt.timedelta(seconds=10)) == "just now"
    assert H.ago(None) == "never"


def test_absolute_times_in_the_readers_zone() -> None:
    raw = "2026-12-04T03:26:17.325545+00:00"
    assert Humane(now=NOW).at(raw) == "Dec 4, 2026, 03:26 UTC"
    assert Humane(now=NOW, tz=zone("Asia/Bangkok")).at(raw) == "Dec 4, 2026, 10:26 GMT+07:00"
    assert Humane(now=NOW, tz=zone("America/St_Johns")).at(raw).endswith("GMT-03:30")
    assert Humane(locale="th", now=NOW).at(raw).startswith("4 ธ.ค. 2026")
    with pytest.raises(BadTimeZone):
        zone("Mars/Olympus")
    marked = str(H.when(raw))
    assert 'datetime="2026-12-04T03:26:17+00:00"' in marked  # machine form only in markup
    assert "(just now)" in marked


def test_positions_counts_and_machine_text() -> None:
    assert H.fix({"age_s": 3615, "uncertainty_m": 28396}) == "fix 1 hr ago, ±28 km"
    assert H.fix({"age_s": 60, "uncertainty_m": 800}) == "fix 1 min ago, ±800 m"
    assert H.fix({"age_s": None, "uncertainty_m": 4200}) == "±4.2 km"
    assert H.fix(None) == ""
    assert (H.count(1, "lot", "lots"), H.count(3, "lot", "lots")) == ("1 lot", "3 lots")
    alert = "silent since 2026-12-04T03:26+00:00: last contact 2026-12-03T21:00:00.5Z"
    assert not ISO.search(H.text(alert))
    assert "Dec 4, 2026, 03:26 UTC" in H.text(alert)


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), st.sampled_from(catalog.LANGS))
def test_any_deadline_reads_as_words(seconds: float, lang: str) -> None:
    fmt = Humane(locale=lang, now=NOW, phrases=catalog.phrases(lang))
    due = NOW + dt.timedelta(seconds=seconds)
    clock = fmt.clock(due)
    assert clock is not None
    assert clock["overdue"] == (due < NOW)
    assert clock["text"].strip() and "{" not in clock["text"] and not ISO.search(clock["text"])
    assert "None" not in clock["text"]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_built_in_english_phrases_are_the_english_catalog() -> None:
    from shore_gateway.web.timefmt import PHRASES_EN

    assert catalog.phrases("en") == PHRASES_EN


def test_every_catalog_has_every_key_and_placeholder() -> None:
    reference = catalog.catalog("en")
    for lang in catalog.LANGS:
        cat = catalog.catalog(lang)
        assert set(cat) == set(reference), lang
        for section in catalog.SECTIONS:
            assert set(cat[section]) == set(reference[section]), (lang, section)
            for key, text in cat[section].items():
                assert text.strip(), (lang, section, key)
                assert _placeholders(text) == _placeholders(reference[section][key]), (lang, key)
        if lang != "en":  # translated, not copied (brand-like words may stay)
            same = [k for k, v in cat["portal"].items() if v == reference["portal"][k]]
            assert len(same) <= 3, (lang, same)
    assert set(catalog.labels("en", "status")) == {
        "new",
        "acknowledged",
        "investigating",
        "remediation_in_progress",
        "remediated",
        "closed",
        "referred",
        "withdrawn",
    }
