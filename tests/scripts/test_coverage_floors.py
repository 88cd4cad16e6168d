"""scripts/coverage_floors.py: floors read from pyproject, matched to the packages measured,
figures computed per package from one coverage data file, and the verdict."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from coverage import CoverageData
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    path = ROOT / "scripts" / "coverage_floors.py"
    spec = importlib.util.spec_from_file_location("coverage_floors", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


floors = _load()


def _doc(source: Any, coverage_floors: Any) -> dict[str, Any]:
    return {
        "tool": {"coverage": {"run": {"source": source}}, "flip": {"coverage": coverage_floors}}
    }


def test_the_repository_floors_every_measured_package() -> None:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages, table = floors.read_config(doc)
    assert set(packages) == set(table)
    for package in packages:
        assert (ROOT / package / "__init__.py").exists(), package


def test_read_config() -> None:
    packages, table = floors.read_config(_doc(["a", "b"], {"a": 90, "b": 12.5}))
    assert packages == ["a", "b"]
    assert table == {"a": 90.0, "b": 12.5}


@pytest.mark.parametrize(
    ("source", "table", "words"),
    [
        (["a", "b"], {"a": 90}, "without a floor"),
        (["a"], {"a": 90, "b": 80}, "not in [tool.coverage.run] source"),
        (["a"], {"a": 101}, "percentage"),
        (["a"], {"a": -1}, "percentage"),
        (["a"], {"a": True}, "percentage"),
        (["a"], {"a": "90"}, "percentage"),
        (["a"], {}, "must give each package a floor"),
        ([], {"a": 90}, "source must list"),
        ("a", {"a": 90}, "source must list"),
        (["a"], None, "must give each package a floor"),
    ],
)
def test_read_config_refuses(source: Any, table: Any, words: str) -> None:
    with pytest.raises(floors.FloorsError, match=words.replace("[", r"\[").replace("]", r"\]")):
        floors.read_config(_doc(source, table))


def test_read_config_without_tables() -> None:
    with pytest.raises(floors.FloorsError):
        floors.read_config({})
    with pytest.raises(floors.FloorsError):
        floors.read_config({"tool": "not a table"})


def test_judge() -> None:
    verdicts = floors.judge({"a": 90.0, "b": 79.99}, {"a": 90, "b": 80, "c": 0})
    assert [(v.package, v.met) for v in verdicts] == [("a", True), ("b", False), ("c", True)]
    assert verdicts[2].measured == 0.0  # no data counts as 0 %
    assert "BELOW FLOOR" in floors.render(verdicts).splitlines()[2]
    assert "BELOW FLOOR" not in floors.render(verdicts[:1])


@given(st.floats(min_value=0, max_value=100))
def test_a_suggested_floor_is_met_with_margin(measured: float) -> None:
    floor = floors.suggest(measured)
    assert 0 <= floor <= measured
    assert floor == 0 or measured - floors.MARGIN - 1 < floor <= measured - floors.MARGIN


def test_measure(tmp_path: Path) -> None:
    # A package of one four-statement module, three statements run; a package never run.
    (tmp_path / "pyproject.toml").write_text("[tool.coverage.run]\nbranch = false\n")
    (tmp_path / "pkg").mkdir()
    module = tmp_path / "pkg" / "mod.py"
    module.write_text("def f(x):\n    if x:\n        return 1\n    return 2\n")
    data = CoverageData(basename=str(tmp_path / ".coverage"))
    data.add_lines({str(module): [1, 2, 3]})
    data.write()
    measured = floors.measure(tmp_path / ".coverage", ["pkg", "other"], root=tmp_path)
    assert measured == {"pkg": 75.0, "other": 0.0}


def test_missing_data_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(floors.FloorsError, match="no coverage data"):
        floors.measure(tmp_path / ".coverage", ["pkg"], root=tmp_path)
    assert floors.main(["--data-file", str(tmp_path / ".coverage")]) == 2
    assert "no coverage data" in capsys.readouterr().err
