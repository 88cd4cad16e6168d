"""Plots of a run (matplotlib, Agg backend, PNG). How to read them: docs/simulator.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.report import GRIEVANCE_COLUMNS

DAY = 86_400.0


def write_plots(report: dict[str, Any], out: Path) -> list[str]:  # noqa: PLR0915 - one figure after another
    """Write the PNGs next to report.json; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["grievances"]
    col = {c: i for i, c in enumerate(GRIEVANCE_COLUMNS)}
    names = []

    # 1. Delivery latency CDF vs the oracle.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lat = sorted(r[col["delivered"]] - r[col["created"]] for r in rows
                 if r[col["delivered"]] is not None)
    orc = sorted(r[col["oracle"]] - r[col["created"]] for r in rows
                 if r[col["delivered"]] is not None and r[col["oracle"]] is not None)
    for xs, label in ((lat, "actual"), (orc, "oracle (best possible)")):
        if xs:
            ax.step([max(x, 1.0) for x in xs], [(i + 1) / len(xs) for i in range(len(xs))],
                    where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("delivery latency (s, log scale)")
    ax.set_ylabel("share of grievances delivered")
    s = report["summary"]
    ax.set_title(f"{report['run']['scenario']}: p95 {s['latency_p95_s']} s "
                 f"vs oracle {s['oracle_p95_s']} s")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    names.append(_save(fig, out, "latency_cdf.png"))

    # 2. Queue depth (grievances created, not yet delivered) and deliveries over time.
    fig, ax = plt.subplots(figsize=(8, 4))
    points = []
    for r in rows:
        points.append((r[col["created"]], 1))
        if r[col["delivered"]] is not None:
            points.append((r[col["delivered"]], -1))
    points.sort()
    depth, xs, ys = 0, [0.0], [0]
    for t, d in points:
        depth += d
        xs.append(t / DAY)
        ys.append(depth)
    ax.step(xs, ys, where="post", label="waiting to be delivered")
    delivered = sorted(r[col["delivered"]] / DAY for r in rows if r[col["delivered"]] is not None)
    ax2 = ax.twinx()
    ax2.plot(delivered, range(1, len(delivered) + 1), color="tab:green", alpha=0.6,
             label="delivered (cumulative)")
    ax.set_xlabel("day")
    ax.set_ylabel("grievances in flight")
    ax2.set_ylabel("delivered (cumulative)")
    ax.set_title("Queue depth and deliveries over time")
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    names.append(_save(fig, out, "queue_depth.png"))

    # 3. Bytes and credits per day.
    pd = report["per_day"]
    fig, ax = plt.subplots(figsize=(8, 4))
    days = list(range(len(pd["mo_bytes"])))
    ax.bar(days, [x / 1000 for x in pd["mo_bytes"]], label="MO bytes on air (kB)", alpha=0.7)
    ax.bar(days, [x / 1000 for x in pd["needed"]], label="MO bytes needed (kB)", alpha=0.7)
    ax.set_xlabel("day")
    ax.set_ylabel("kB")
    ax2 = ax.twinx()
    ax2.plot(days, pd["credits"], color="tab:red", marker=".", label="credits")
    ax2.set_ylabel("credits")
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    ax.set_title("Bytes and credits per day (whole fleet)")
    names.append(_save(fig, out, "bytes_credits.png"))

    # 4. Per-vessel link availability strip.
    strips = report["strips"]
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.22 * len(strips) + 1)))
    colours = {"storm": "#9ecae1", "bad": "#fdae6b", "down": "#d62728", "closed": "#bbbbbb"}
    for i, st in enumerate(strips):
        ax.broken_barh([(s / DAY, (e - s) / DAY) for s, e in st["storms"]], (i - 0.4, 0.8),
                       color=colours["storm"])
        ax.broken_barh([(s / DAY, (e - s) / DAY) for s, e in st["bad"]], (i - 0.3, 0.6),
                       color=colours["bad"])
        for kind, key in (("closed", "closed"), ("down", None)):
            spans = [(s / DAY, (e - s) / DAY) for s, e, k in st["down"]
                     if (k == "closed") == (key == "closed")]
            ax.broken_barh(spans, (i - 0.3, 0.6), color=colours[kind])
    ax.set_yticks(range(len(strips)), [f"{st['vessel']} {st['link']}" for st in strips],
                  fontsize=6)
    ax.set_xlabel("day")
    ax.set_title("Link per vessel: red hard-down, orange bad state, grey window closed, "
                 "blue storm", fontsize=9)
    names.append(_save(fig, out, "link_strips.png"))
    return names


def _save(fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name
