"""Prometheus metrics of one gateway process (``GET /metrics``).

Each app owns a :class:`Metrics` with its own registry (so tests and several apps in one process
do not share counters); ingest adapters and the pipeline get it from ``app.state.metrics`` or
from the sink they were built with, and call the verb methods below. Label values are bounded
sets (channel names, rejection reasons, vessel names) — never IMEIs or anything a sender
controls freely, to keep series cardinality bounded.
"""

from __future__ import annotations

import datetime as dt

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters, histogram and gauges named ``flip_gateway_*``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.frames_in = Counter(
            "flip_gateway_frames_in",
            "Frames received, by ingest channel.",
            ["channel"],
            registry=self.registry,
        )
        self.frames_rejected = Counter(
            "flip_gateway_frames_rejected",
            "Frames refused, by channel and reason (bad_signature, unknown_device, malformed…).",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.dedupe_hits = Counter(
            "flip_gateway_dedupe_hits",
            "Arrivals already stored (same frame again, or same message by another path).",
            ["channel", "level"],
            registry=self.registry,
        )
        self.pipeline_latency = Histogram(
            "flip_gateway_pipeline_latency_seconds",
            "Time from arrival to durable storage of a frame's effect.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.last_contact = Gauge(
            "flip_gateway_vessel_last_contact_timestamp_seconds",
            "Unix time of the last authenticated frame from each vessel.",
            ["vessel"],
            registry=self.registry,
        )
        self.frame_bytes = Counter(
            "flip_frame_bytes",
            "Bytes of frames received, by ingest channel (what the link carried; voice notes "
            "make this grow by ~130 B per second of speech).",
            ["channel"],
            registry=self.registry,
        )
        self.http_rejected = Counter(
            "flip_gateway_http_rejected",
            "HTTP requests answered with a 4xx, by status code.",
            ["status"],
            registry=self.registry,
        )
        self.broker_dropped = Counter(
            "flip_gateway_mqtt_broker_dropped",
            "Messages the MQTT broker says it dropped ($SYS/broker/publish/messages/dropped "
            "rising), seen by this gateway; any increase means acknowledged messages may be "
            "lost (docs/operations.md).",
            ["broker"],
            registry=self.registry,
        )

    def frame_received(self, channel: str, size: int = 0) -> None:
        self.frames_in.labels(channel=channel).inc()
        self.frame_bytes.labels(channel=channel).inc(size)

    def frame_rejected(self, channel: str, reason: str) -> None:
        self.frames_rejected.labels(channel=channel, reason=reason).inc()

    def dedupe_hit(self, channel: str, level: str = "message") -> None:
        """``level``: ``raw`` (same arrival retried) or ``message`` (same device seq again)."""
        self.dedupe_hits.labels(channel=channel, level=level).inc()

    def observe_latency(self, channel: str, seconds: float) -> None:
        self.pipeline_latency.labels(channel=channel).observe(max(0.0, seconds))

    def vessel_contact(self, vessel: str, when: dt.datetime) -> None:
        self.last_contact.labels(vessel=vessel).set(when.timestamp())

    def http_reject(self, status: int) -> None:
        self.http_rejected.labels(status=str(status)).inc()

    def mqtt_broker_dropped(self, broker: str, count: int) -> None:
        self.broker_dropped.labels(broker=broker).inc(count)

    def render(self) -> bytes:
        """The exposition text format."""
        return generate_latest(self.registry)
