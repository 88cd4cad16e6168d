"""`flip sim run|scenarios` (CONTRACTS.md, "sim"). Imports stay light until a command runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flip.output import CommandError, emit

#: Keys printed on stdout with ``--json`` (report.json holds everything).
SUMMARY_KEYS = (
    "created",
    "delivered",
    "lost",
    "undeliverable",
    "duplicates_surfaced",
    "duplicates_suppressed",
    "latency_p50_s",
    "latency_p95_s",
    "oracle_p50_s",
    "oracle_p95_s",
    "latency_p95_vs_oracle",
    "tail_slots",
    "tail_forced",
    "acked_on_board_p95_s",
    "status_seen_p95_s",
    "bytes_on_air",
    "bytes_needed",
    "bytes_on_air_vs_needed",
    "mt_bytes",
    "credits",
    "sessions",
    "sessions_failed",
    "retransmissions",
    "wall_s",
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sim", help="link simulator: a fleet's month on a virtual clock, measured vs the oracle"
    )
    ssub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)
    r = ssub.add_parser("run", help="run a scenario and write report.json and plots")
    r.add_argument("--scenario", default="calm", help="built-in name or a scenario TOML file")
    r.add_argument("--vessels", type=int, help="fleet size (default: the scenario's)")
    r.add_argument("--days", type=float, help="days of traffic (default: the scenario's)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--out", default="sim-out", help="directory for report.json and plots")
    r.add_argument("--workers", type=int, help="processes (default: 2 from 150 vessels on)")
    r.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    r.add_argument(
        "--shore",
        choices=("memory", "gateway"),
        default="memory",
        help="shore side: the gateway's shore logic (protocol.shorecore) over the "
        "in-memory store (fast), or the whole gateway pipeline on SQLite (small "
        "fleets)",
    )
    r.add_argument(
        "--mode",
        choices=("virtual", "realtime"),
        default="virtual",
        help="virtual clock (default) or real processes with --speedup",
    )
    r.add_argument(
        "--speedup",
        type=float,
        default=60.0,
        help="real-time mode: virtual seconds per wall second",
    )
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run_cmd)
    s = ssub.add_parser("scenarios", help="list the built-in scenarios")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=scenarios_cmd)


def scenarios_cmd(args: argparse.Namespace) -> int:
    from simulator.errors import SimError
    from simulator.scenario import builtins

    try:
        items = builtins()
    except SimError as exc:
        raise CommandError(str(exc)) from None
    emit(
        args,
        {"scenarios": items},
        lambda r: "\n".join(f"{s['name']:16} {s['description']}" for s in r["scenarios"]),
    )
    return 0


def run_cmd(args: argparse.Namespace) -> int:
    from simulator.errors import SimError
    from simulator.scenario import load

    try:
        scenario = load(args.scenario)
    except SimError as exc:
        raise CommandError(str(exc)) from None
    vessels = args.vessels if args.vessels is not None else scenario.vessels
    days = args.days if args.days is not None else scenario.days
    if vessels < 1 or not 0 < days <= 366:
        raise CommandError("--vessels must be ≥ 1 and --days in (0, 366]")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {out}: {exc}") from None
    if args.mode == "realtime":
        from simulator.realtime import run_realtime

        try:
            report = run_realtime(
                scenario, vessels=vessels, days=days, seed=args.seed, speedup=args.speedup
            )
        except SimError as exc:
            raise CommandError(str(exc)) from None
    else:
        report = _virtual(args, scenario, vessels, days)
    try:
        (out / "report.json").write_text(json.dumps(report, ensure_ascii=False) + "\n")
        if not args.no_plots and report.get("grievances") is not None:
            from simulator.plots import write_plots

            report["plots"] = write_plots(report, out)
    except OSError as exc:
        raise CommandError(f"cannot write to {out}: {exc}") from None
    summary = report["summary"]
    result = {k: summary.get(k) for k in SUMMARY_KEYS}
    result.update(
        scenario=scenario.name,
        vessels=vessels,
        days=days,
        seed=args.seed,
        report=str(out / "report.json"),
        plots=report.get("plots", []),
    )
    emit(args, result, _human)
    return 0


def _virtual(args: argparse.Namespace, scenario: Any, vessels: int, days: float) -> dict[str, Any]:
    from simulator.run import RunConfig, default_workers, simulate

    workers = args.workers or default_workers(vessels)
    cfg = RunConfig(vessels=vessels, days=days, seed=args.seed, workers=workers, shore=args.shore)
    if args.json or not sys.stderr.isatty():
        report, _ = simulate(scenario, cfg)
        return report
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"{scenario.name}: {vessels} vessels × {days:g} days", total=None)
        report, _ = simulate(
            scenario,
            cfg,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    return report


def _human(r: Any) -> str:
    return (
        f"{r['scenario']}: {r['created']} grievances, {r['delivered']} delivered, "
        f"{r['lost']} lost, {r['duplicates_surfaced']} duplicates surfaced\n"
        f"latency p50 {r['latency_p50_s']} s, p95 {r['latency_p95_s']} s "
        f"(oracle p95 {r['oracle_p95_s']} s)\n"
        f"bytes on air {r['bytes_on_air']} vs needed {r['bytes_needed']}; "
        f"{r['credits']} credits; {r['wall_s']} s wall\nreport: {r['report']}"
    )
