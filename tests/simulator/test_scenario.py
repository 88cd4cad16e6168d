"""Scenario files: built-ins load; bad files give one clear line naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import ScenarioError, UnknownScenario
from simulator.scenario import BUILTIN, builtins, load, parse


@pytest.mark.parametrize("name", BUILTIN)
def test_builtins_load(name: str) -> None:
    s = load(name)
    assert s.name == name
    assert s.fleet and s.vessels > 0


def test_builtins_listed() -> None:
    assert [b["name"] for b in builtins()] == list(BUILTIN)


def test_minimal_file_gets_calibrated_defaults(tmp_path: Path) -> None:
    f = tmp_path / "tiny.toml"
    f.write_text("vessels = 3\ndays = 2\n")
    s = load(str(f))
    assert s.name == "tiny"
    assert s.all_links()["iridium"].mo_max == 340


EXAMPLE = """
name = "example"
days = 5
vessels = 4

[links.cheap-sbd]
kind = "iridium-sbd"
ring_reliability = 0.8
normal = { mean_good_h = 10, mean_bad_h = 1, loss_good = 0.02, loss_bad = 0.4 }

[[fleet]]
link = "cheap-sbd"
crew = 12

[grievances]
languages = { my = 1, km = 1 }

[[events]]
kind = "storm"
start_day = 1
duration_days = 2
start = [5.0, 85.0]
end = [10.0, 90.0]
"""


def test_full_example_parses() -> None:
    s = parse(EXAMPLE)
    assert s.all_links()["cheap-sbd"].ring_reliability == 0.8
    assert s.events[0].kind == "storm"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("vessels = [", "not valid TOML"),
        ("vessels = 0", "vessels: Input should be greater than 0"),
        ("colour = 'red'", "colour: Extra inputs are not permitted"),
        ("[[fleet]]\nlink = 'pigeon'", "uses link 'pigeon'"),
        ("[grievances]\nlanguages = { xx = 1 }", "unknown language 'xx'"),
        ("[grievances]\ncategories = { '0x1FF' = 1 }", "does not fit one byte"),
        ("[[events]]\nkind = 'meteor'\nstart_day = 1", "events.0"),
        ("[links.x]\nfailure_codes = { '0' = 1 }", "not an SBDIX failure status"),
        ("[[fleet]]\narea = { lat = [10.0, 5.0], lon = [0.0, 1.0] }", "area needs"),
    ],
)
def test_bad_files_say_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse(text, "bad.toml")
    message = str(exc.value)
    assert message.startswith("bad.toml: ")
    assert needle in message
    assert "\n" not in message


def test_unknown_scenario() -> None:
    with pytest.raises(UnknownScenario, match="not a built-in"):
        load("no-such-scenario")


def test_the_example_in_the_docs_parses() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    s = parse(block, "docs-example.toml")
    assert s.name == "bay-trawlers"
    assert {e.kind for e in s.events} == {"storm", "provider-outage", "dark-vessel"}
