"""Hold every package to its own branch-coverage floor after `make test`'s one measured run.

`make test` runs the whole suite once under coverage (`[tool.coverage.run]` in pyproject.toml:
every package, branch coverage, the processes the tests start measured too), then this script
reports each package's figure from that one data file and fails if any is below its floor.
The floors live in one place, `[tool.flip.coverage]` in pyproject.toml (package = whole percent);
every package measured must have a floor and every floor a measured package, so a new package
cannot go unchecked. How to update them: docs/style.md §9.

    .venv/bin/python scripts/coverage_floors.py              # check the floors (exit 1 if not met)
    .venv/bin/python scripts/coverage_floors.py --suggest    # print floors for today's figures
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A floor sits this many whole points below the figure measured when it was set: enough for
# the run-to-run wobble (Hypothesis draws, timing-dependent retries), little enough to fail
# when a change leaves real code untested.
MARGIN = 1


class FloorsError(Exception):
    """The floors or the coverage data cannot be read, or they do not match each other."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    package: str
    measured: float
    floor: float

    @property
    def met(self) -> bool:
        return self.measured >= self.floor


def read_config(pyproject: Mapping[str, object]) -> tuple[list[str], dict[str, float]]:
    """The packages coverage measures (`[tool.coverage.run] source`) and their floors.

    Raises:
        FloorsError: a floor is not a number in 0..100, or a package has no floor, or a floor
            names a package coverage does not measure.
    """
    source = _table(pyproject, "tool", "coverage", "run").get("source")
    if not isinstance(source, list) or not all(isinstance(s, str) for s in source) or not source:
        raise FloorsError("[tool.coverage.run] source must list the packages measured")
    raw = _table(pyproject, "tool", "flip", "coverage")
    if not raw:
        raise FloorsError("[tool.flip.coverage] must give each package a floor")
    floors: dict[str, float] = {}
    for package, floor in raw.items():
        if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 <= floor <= 100:
            raise FloorsError(f"floor of {package!r} must be a percentage, got {floor!r}")
        floors[package] = float(floor)
    unfloored = sorted(set(source) - set(floors))
    unmeasured = sorted(set(floors) - set(source))
    if unfloored:
        raise FloorsError(f"measured but without a floor in [tool.flip.coverage]: {unfloored}")
    if unmeasured:
        raise FloorsError(f"a floor but not in [tool.coverage.run] source: {unmeasured}")
    return list(source), floors


def _table(doc: Mapping[str, object], *keys: str) -> Mapping[str, object]:
    """The TOML table at *keys* in *doc*, empty when it is missing or not a table."""
    node: object = doc
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def judge(measured: Mapping[str, float], floors: Mapping[str, float]) -> list[Verdict]:
    """One verdict per floored package; a package with no data counts as 0 %."""
    return [Verdict(package=p, measured=measured.get(p, 0.0), floor=f) for p, f in floors.items()]


def suggest(measured: float) -> int:
    """The floor for a package measured at *measured* %: `MARGIN` whole points below it."""
    return max(0, math.floor(measured) - MARGIN)


def render(verdicts: Sequence[Verdict]) -> str:
    lines = [f"{'package':<16} {'branch cov':>10} {'floor':>6}"]
    for v in verdicts:
        mark = "" if v.met else "  BELOW FLOOR"
        lines.append(f"{v.package:<16} {v.measured:>9.2f}% {v.floor:>5.0f}%{mark}")
    return "\n".join(lines)


def measure(data_file: Path, packages: Sequence[str], root: Path = ROOT) -> dict[str, float]:
    """Each package's branch coverage (%) in *data_file*, as `coverage report` computes it,
    with the coverage settings of *root*'s pyproject.toml (package directories are in *root*).

    Raises:
        FloorsError: there is no data file.
    """
    import coverage
    from coverage.exceptions import NoDataError

    if not data_file.exists():
        raise FloorsError(f"no coverage data at {data_file}: run the tests with --cov first")
    cov = coverage.Coverage(data_file=str(data_file), config_file=str(root / "pyproject.toml"))
    cov.load()
    figures: dict[str, float] = {}
    for package in packages:
        try:
            figures[package] = cov.report(
                include=[str(root / package / "*")], file=io.StringIO(), skip_covered=False
            )
        except NoDataError:
            figures[package] = 0.0
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, default=ROOT / ".coverage")
    parser.add_argument("--suggest", action="store_true", help="print floors for these figures")
    parser.add_argument("--json", action="store_true", help="figures and floors as JSON")
    args = parser.parse_args(argv)
    try:
        packages, floors = read_config(tomllib.loads((ROOT / "pyproject.toml").read_text()))
        measured = measure(args.data_file, packages)
    except FloorsError as exc:
        print(f"coverage floors: {exc}", file=sys.stderr)
        return 2
    verdicts = judge(measured, floors)
    if args.suggest:
        print("[tool.flip.coverage]")
        for v in verdicts:
            print(f"{v.package} = {suggest(v.measured)}  # measured {v.measured:.2f}")
    elif args.json:
        rows = [{"package": v.package, "measured": v.measured, "floor": v.floor} for v in verdicts]
        print(json.dumps(rows, indent=2))
    else:
        print(render(verdicts))
    below = [v.package for v in verdicts if not v.met]
    if below and not args.suggest:
        print(f"coverage below its floor in: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
