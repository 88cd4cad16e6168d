"""``flip_gateway_cases_overdue``: how many open cases are past their response deadline.

A collector read at scrape time (``GET /metrics``), not a counter the desk keeps: a deadline
runs out by itself, with no event to count, so the number is asked of the database — the same
query that flags overdue urgent cases on every staff page (:func:`views.overdue_cases`). The
label ``urgent`` (``true``/``false``) lets an alert rule page someone for the urgent ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shore_gateway.cases.views import overdue_cases
from shore_gateway.db import Database

log = logging.getLogger(__name__)


class OverdueCollector(Collector):
    """Counts overdue cases (urgent or not) in ``db`` whenever the registry is scraped."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "flip_gateway_cases_overdue",
            "Open cases past their response deadline (unacknowledged), by urgency.",
            labels=["urgent"],
        )
        try:
            with self.db.session() as session:
                rows = overdue_cases(session)
        except Exception as exc:  # a scrape must not fail because the database is away
            log.warning("overdue count failed", extra={"error": type(exc).__name__})
            return
        urgent = sum(1 for case, _vessel in rows if case.urgent)
        family.add_metric(["true"], urgent)
        family.add_metric(["false"], len(rows) - urgent)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Described without a database read (the registry calls this on register).
        yield GaugeMetricFamily(
            "flip_gateway_cases_overdue",
            "Open cases past their response deadline (unacknowledged), by urgency.",
            labels=["urgent"],
        )
