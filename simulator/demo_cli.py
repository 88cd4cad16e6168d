"""`flip demo` — flip-sync end to end on one machine (see simulator/demo.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flip.output import CommandError, emit


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run flip-sync end to end locally",
        description="Gateway (SQLite) with dashboard and owner portal, a fleet of emulated "
        "modems and real vessel agents, crew grievances in several languages. Runs until "
        "Ctrl-C. With --headless: the simulator on the virtual clock (vessel sessions and "
        "the gateway's shore logic in memory; no SQL gateway, dashboard or case desk), "
        "summary printed.",
    )
    p.add_argument("--headless", action="store_true", help="virtual clock, print the summary")
    p.add_argument("--vessels", type=int, default=5)
    p.add_argument("--days", type=float, default=3, help="simulated days (--headless)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", type=Path, default=Path(".flip-demo"), help="data directory")
    p.add_argument("--http-port", type=int, default=8765, help="dashboard port (if free)")
    p.add_argument("--speedup", type=float, default=720.0, help="link time compression")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="one JSON line when ready / at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simulator import demo
    from simulator.errors import SimError

    if not 1 <= args.vessels <= 50:
        raise CommandError("--vessels must be between 1 and 50")
    if args.headless:
        if not 0 < args.days <= 366:
            raise CommandError("--days must be in (0, 366]")
        try:
            summary = demo.headless(args.vessels, args.days, args.seed)
        except SimError as exc:
            raise CommandError(str(exc)) from None
        emit(args, summary, lambda s: "\n".join(f"{k}: {v}" for k, v in s.items()))
        return 0
    cfg = demo.DemoConfig(
        directory=args.dir,
        vessels=args.vessels,
        speedup=args.speedup,
        http_port=args.http_port,
        duration=args.duration,
        seed=args.seed,
    )

    def ready(info: dict[str, Any]) -> None:
        print(demo.dumps(info) if args.json else demo.human(info), flush=True)

    try:
        seen = demo.run(cfg, ready)
    except SimError as exc:
        raise CommandError(str(exc)) from None
    if not args.json:
        print(f"stopped; {seen['ashore']} grievances had arrived ashore.", flush=True)
    return 0
