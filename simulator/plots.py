"""Plots of a run (matplotlib, Agg backend, PNG). How to read them: docs/simulator.md."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from simulator.report import GRIEVANCE_COLUMNS

DAY = 86_400.0


def write_plots(report: dict[str, Any], out: Path) -> list[str]:
    """Write the PNGs next to report.json; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["grievances"]
    col = {c: i for i, c in enumerate(GRIEVANCE_COLUMNS)}
    names = []

    # 1. Delivery latency CDF vs the oracle.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lat = sorted(
        r[col["delivered"]] - r[col["created"]] for r in rows if r[col["delivered"]] is not None
    )
    orc = sorted(
        r[col["oracle"]] - r[col["created"]]
        for r in rows
        if r[col["delivered"]] is not None and r[col["oracle"]] is not None
    )
    for xs, label in ((lat, "actual"), (orc, "oracle (best possible)")):
        if xs:
            ax.step(
                [max(x, 1.0) for x in xs],
                [(i + 1) / len(xs) for i in range(len(xs))],
                where="post",
                label=label,
            )
    ax.set_xscale("log")
    ax.set_xlabel("delivery latency (s, log scale)")
    ax.set_ylabel("share of grievances delivered")
    s = report["summary"]
    ax.set_title(
        f"{report['run']['scenario']}: p95 {s['latency_p95_s']} s vs oracle {s['oracle_p95_s']} s"
    )
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
    ax2.plot(
        delivered,
        range(1, len(delivered) + 1),
        color="tab:green",
        alpha=0.6,
        label="delivered (cumulative)",
    )
    ax.set_xlabel("day")
    ax.set_ylabel("grievances in flight")
    ax2.set_ylabel("delivered (cumulative)")
    ax.set_title("Queue depth and deliveries over time")
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    names.append(_save(fig, out, "queue_depth.png"))

    # 3. Bytes and credits per day.
    fig = bytes_credits_figure(report, plt)
    names.append(_save(fig, out, "bytes_credits.png"))

    # 4. Per-vessel link availability strip.
    fig = link_strips_figure(report, plt)
    names.append(_save(fig, out, "link_strips.png"))
    return names


def _spans(run: dict[str, Any]) -> tuple[float, float]:
    """(last day with new traffic, end of the run) in days: the plots show exactly the run."""
    end = float(run["end_s"]) / DAY
    return min(float(run["days"]), end), end


def _shade_drain(ax: Any, run: dict[str, Any]) -> None:
    quiet, end = _spans(run)
    if end > quiet:
        ax.axvspan(
            quiet,
            end,
            color="#eeeeee",
            zorder=0,
            label="drain: no new grievances, in-flight ones finish",
        )


def bytes_credits_figure(report: dict[str, Any], plt: Any) -> Any:
    """MO bytes on air vs needed, side by side per day, and credits (the provider's billing
    units: 50 bytes on Iridium SBD, at least one per session) on a second axis. Drain days are
    shaded: little traffic there is the scenario ending, not an outage."""
    pd, run = report["per_day"], report["run"]
    _, end = _spans(run)
    n = min(len(pd["mo_bytes"]), math.ceil(end))
    days = [d + 0.5 for d in range(n)]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    _shade_drain(ax, run)
    w = 0.4
    ax.bar(
        [d - w / 2 for d in days],
        [x / 1000 for x in pd["mo_bytes"][:n]],
        width=w,
        label="MO bytes on air (kB)",
        color="tab:blue",
    )
    ax.bar(
        [d + w / 2 for d in days],
        [x / 1000 for x in pd["needed"][:n]],
        width=w,
        label="MO bytes needed (kB)",
        color="tab:orange",
    )
    ax.set_xlim(0, end)
    ax.set_xlabel("day of the run")
    ax.set_ylabel("kB per day")
    ax2 = ax.twinx()
    ax2.plot(
        days,
        pd["credits"][:n],
        color="tab:red",
        marker=".",
        label="credits per day (billing units)",
    )
    ax2.set_ylabel("credits")
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    fig.legend(
        handles[0] + handles2[0],
        handles[1] + handles2[1],
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    ax.set_title(f"Bytes and credits per day, whole fleet ({run['vessels']} vessels)")
    return fig


def link_strips_figure(report: dict[str, Any], plt: Any) -> Any:
    """Link state of the sampled vessels over exactly the run (spans clipped to its end)."""
    strips, run = report["strips"], report["run"]
    _, end = _spans(run)
    end_s = end * DAY

    def clip(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(s / DAY, (min(e, end_s) - s) / DAY) for s, e in spans if s < end_s]

    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.22 * len(strips) + 1.4)))
    _shade_drain(ax, run)
    colours = {"storm": "#9ecae1", "bad": "#fdae6b", "down": "#d62728", "closed": "#bbbbbb"}
    for i, st in enumerate(strips):
        ax.broken_barh(clip(st["storms"]), (i - 0.4, 0.8), color=colours["storm"])
        ax.broken_barh(clip(st["bad"]), (i - 0.3, 0.6), color=colours["bad"])
        for kind in ("closed", "down"):
            spans = [(s, e) for s, e, k in st["down"] if (k == "closed") == (kind == "closed")]
            ax.broken_barh(clip(spans), (i - 0.3, 0.6), color=colours[kind])
    ax.set_yticks(range(len(strips)), [f"{st['vessel']} {st['link']}" for st in strips], fontsize=6)
    ax.set_xlim(0, end)
    ax.set_ylim(-0.6, len(strips) - 0.4)
    ax.set_xlabel("day of the run")
    shown = (
        f"all {len(strips)} vessels"
        if len(strips) >= run["vessels"]
        else f"{len(strips)} of {run['vessels']} vessels (an even sample)"
    )
    ax.set_title(
        f"Link per vessel, {shown}: red hard-down, orange bad state, "
        "grey window closed, blue storm",
        fontsize=9,
    )
    return fig


def _save(fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    if fig.legends:  # a figure legend sits under the axes: keep room for it
        fig.subplots_adjust(bottom=0.25)
    fig.savefig(out / name, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name
