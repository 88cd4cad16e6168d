"""`make bench`: run every benchmark, write bench/results/*.json, print one table and refresh
the generated part of BENCHMARKS.md. Run: ``.venv/bin/python -m bench [NAME ...]``."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DOC = ROOT.parent / "BENCHMARKS.md"
# Each module has run() -> {"name", "results": [{"metric", "value", "target", "met"}], ...}.
BENCHES = [
    "protocol",
    "agent",
    "crewapp",
    "gateway",
    "sim",
    "voice",
    "zawgyi",
    "conversation",
    "links",
]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


USAGE = f"usage: python -m bench [NAME ...]   (NAME: {', '.join(BENCHES)}; none: all)"


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(USAGE)
        return 0
    unknown = [a for a in argv if a not in BENCHES]
    if unknown:  # a typo: say how to call it, run nothing, touch no file
        print(f"unknown bench {', '.join(unknown)}\n{USAGE}", file=sys.stderr)
        return 2
    names = argv or BENCHES
    RESULTS.mkdir(exist_ok=True)
    done: list[dict[str, Any]] = []
    console = Console()
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        console.print(f"running bench {name} …")
        result = module.run()
        result["machine"] = machine()
        result["when"] = datetime.now(UTC).isoformat(timespec="seconds")
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
        done.append(result)
    table = Table(title="flip-sync benchmarks")
    for col in ("bench", "metric", "value", "target", "met"):
        table.add_column(col)
    rows = []
    # The table covers every result on disk, so running one bench keeps the others' rows.
    everything = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    everything = [r for r in everything if "name" in r and "results" in r]  # soak files differ
    for r in sorted(
        everything, key=lambda r: BENCHES.index(r["name"]) if r["name"] in BENCHES else 99
    ):
        for m in r["results"]:
            met = {True: "yes", False: "NO", None: "—"}[m["met"]]
            table.add_row(r["name"], m["metric"], str(m["value"]), m["target"], met)
            rows.append(f"| {r['name']} | {m['metric']} | {m['value']} | {m['target']} | {met} |")
    console.print(table)
    write_doc(rows, where(everything))
    return 0


def where(results: list[dict[str, Any]]) -> str:
    """Which machine ran which bench, and when — results on disk may come from several runs."""
    by_host: dict[str, list[str]] = {}
    for r in results:
        when = str(r.get("when", ""))[:10]
        by_host.setdefault(str(r.get("machine", "unknown machine")), []).append(
            f"{r['name']} {when}".strip()
        )
    return "; ".join(f"{host} ({', '.join(names)})" for host, names in by_host.items())


def write_doc(rows: list[str], hosts: str) -> None:
    block = "\n".join(
        [
            BEGIN,
            f"Machines: {hosts}. Command: `make bench` "
            f"(or `.venv/bin/python -m bench NAME`). Updated {datetime.now(UTC):%Y-%m-%d}.",
            "",
            "| bench | metric | value | target | met |",
            "|---|---|---|---|---|",
            *rows,
            END,
        ]
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
