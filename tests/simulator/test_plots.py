"""The plots show exactly the run and say what they leave out."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from simulator.plots import bytes_credits_figure, link_strips_figure

DAY = 86_400.0


def _report(vessels: int, strips: int) -> dict[str, Any]:
    end = 17 * DAY  # 14 days of traffic + 3 of drain
    storm = [(15.5 * DAY, 20 * DAY)]  # starts in the drain, runs past the end
    return {
        "run": {
            "scenario": "monsoon",
            "vessels": vessels,
            "days": 14,
            "seed": 1,
            "drain_days": 3,
            "end_s": end,
        },
        "per_day": {
            k: [100.0 * (d < 14) for d in range(19)] for k in ("mo_bytes", "needed", "credits")
        },
        "strips": [
            {
                "vessel": i,
                "link": "iridium",
                "storms": storm,
                "bad": [],
                "down": [(16.9 * DAY, 25 * DAY, "down")],
            }
            for i in range(strips)
        ],
    }


def test_link_strips_span_exactly_the_run_and_name_the_sample() -> None:
    fig = link_strips_figure(_report(vessels=50, strips=40), plt)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.0, 17.0)
    for coll in ax.collections:
        for path in coll.get_paths():
            assert path.vertices[:, 0].max() <= 17.0 + 1e-9
    assert "40 of 50 vessels" in ax.get_title()
    plt.close(fig)
    fig = link_strips_figure(_report(vessels=5, strips=5), plt)
    assert "all 5 vessels" in fig.axes[0].get_title()
    plt.close(fig)


def test_bytes_credits_labels_drain_days_and_credits() -> None:
    fig = bytes_credits_figure(_report(vessels=50, strips=40), plt)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert any(label.startswith("drain") for label in labels)
    assert any("billing units" in label for label in labels)
    assert fig.axes[0].get_xlim() == (0.0, 17.0)
    plt.close(fig)
