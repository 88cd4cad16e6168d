"""Run one fuzz target under atheris (coverage-guided, libFuzzer), or all of them.

    python -m fuzz.run TARGET [--runs N] [--rss-limit-mb MB] [--max-len BYTES] [--seed S]
    python -m fuzz.run all --runs N [--json OUT]    # each target in its own process

libFuzzer aborts on a crash (an exception other than the decoder's typed errors), on a
timeout, and when the process's RSS passes ``--rss-limit-mb`` — so a completed run means no
crash and bounded memory for that many inputs. ``all`` runs every target in a child process,
collects libFuzzer's final statistics (inputs run, peak RSS) and exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

INSTRUMENT = ["protocol", "firmware_bridge", "shore_gateway", "fuzz", "cbor2", "pyais"]


def fuzz_one(name: str, argv: list[str]) -> None:
    """Run libFuzzer in this process on target ``name`` (does not return)."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENT):
        from fuzz import targets
        from fuzz.seeds import seeds

        target = targets.TARGETS[name]
        for seed in seeds(name):  # the targets import their decoders lazily: do it in here
            target(seed)
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for i, seed in enumerate(seeds(name)):
        (corpus / f"seed{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *argv, str(corpus)], target)
    atheris.Fuzz()


def run_all(names: list[str], runs: int, extra: list[str], jobs: int) -> list[dict[str, Any]]:
    """Each target in a child process, ``jobs`` at a time; libFuzzer's figures per target."""
    results: list[dict[str, Any]] = []
    pending = list(names)
    active: list[tuple[str, subprocess.Popen[str], float, Path]] = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    while pending or active:
        while pending and len(active) < jobs:
            name = pending.pop(0)
            log = Path(tempfile.mkstemp(prefix=f"fuzz-{name}-", suffix=".log")[1])
            with log.open("w") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "fuzz.run", name, "--runs", str(runs), *extra],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=env,
                )
            active.append((name, proc, time.monotonic(), log))
        time.sleep(0.2)
        for item in list(active):
            name, proc, started, log = item
            if proc.poll() is None:
                continue
            active.remove(item)
            text = log.read_text(errors="replace")
            results.append(summarise(name, proc.returncode, text, time.monotonic() - started))
            if proc.returncode == 0:
                log.unlink()
            else:
                results[-1]["log"] = str(log)
    return sorted(results, key=lambda r: r["target"])


def summarise(name: str, code: int, text: str, wall_s: float) -> dict[str, Any]:
    """Inputs run, peak RSS (MB) and coverage from libFuzzer's output."""
    done = re.findall(r"Done (\d+) runs", text)
    rss = [int(x) for x in re.findall(r"rss: (\d+)Mb", text)]
    cov = [int(x) for x in re.findall(r"cov: (\d+)", text)]
    return {
        "target": name,
        "ok": code == 0,
        "runs": int(done[-1]) if done else 0,
        "peak_rss_mb": max(rss) if rss else None,
        "first_rss_mb": rss[0] if rss else None,
        "coverage": max(cov) if cov else None,
        "wall_s": round(wall_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__)
    parser.add_argument("target", help="a name from fuzz.targets.TARGETS, or 'all'")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rss-limit-mb", type=int, default=1024)
    parser.add_argument("--max-len", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-s", type=int, default=20, help="per input")
    parser.add_argument("--jobs", type=int, default=2, help="with 'all': targets at once")
    parser.add_argument("--json", help="with 'all': write the results here")
    args = parser.parse_args(argv)
    lib = [
        f"-runs={args.runs}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-malloc_limit_mb={args.rss_limit_mb}",
        f"-max_len={args.max_len}",
        f"-seed={args.seed}",
        f"-timeout={args.timeout_s}",
        "-print_final_stats=1",
    ]
    if args.target != "all":
        fuzz_one(args.target, lib)
        return 0
    from fuzz.targets import TARGETS

    extra = [
        f"--rss-limit-mb={args.rss_limit_mb}",
        f"--max-len={args.max_len}",
        f"--seed={args.seed}",
        f"--timeout-s={args.timeout_s}",
    ]
    started = time.monotonic()
    results = run_all(list(TARGETS), args.runs, extra, args.jobs)
    summary = {
        "targets": results,
        "total_runs": sum(r["runs"] for r in results),
        "failed": [r["target"] for r in results if not r["ok"]],
        "wall_s": round(time.monotonic() - started, 1),
    }
    for r in results:
        print(
            f"{r['target']:10} {'ok' if r['ok'] else 'FAIL':4} runs={r['runs']:>9} "
            f"rss={r['first_rss_mb']}→{r['peak_rss_mb']} MB cov={r['coverage']} {r['wall_s']} s"
            + (f" log={r['log']}" if not r["ok"] else "")
        )
    print(f"total {summary['total_runs']} inputs, {len(summary['failed'])} failed")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
