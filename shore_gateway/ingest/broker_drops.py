"""Make an MQTT broker's own drops loud: an ``alerts`` row of kind ``broker_drop``, a metric
and an error in the log.

Mosquitto drops a QoS 1 message silently (one NOTICE in its own log per connection) when the
queue of a session is full (``max_queued_messages``, ``max_queued_bytes``) — after it has
acknowledged that message to its publisher, so nobody would resend it soon. What a client can see
is the broker-wide counter ``$SYS/broker/publish/messages/dropped`` (published every
``sys_interval`` seconds, retained; it starts again from 0 when the broker restarts). Each
gateway watches it (:class:`~shore_gateway.ingest.mqtt.MqttLink` subscribes to it) and hands
every value to :meth:`BrokerDrops.observe`.

A rise is raised once as an alert, whichever gateway sees it first: the last counter value
alerted is kept in the alert's ``detail`` (``[counter=N]``), and every decision is taken under
a transaction-scoped advisory lock on PostgreSQL (SQLite serialises writers anyway). A gateway
that starts while the counter is above the last value alerted (drops while every gateway was
down) raises it then. A counter below the last value means the broker restarted: everything it
counts since is new.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import text
from sqlmodel import Session, col, select

from shore_gateway.db import Database
from shore_gateway.metrics import Metrics
from shore_gateway.models import Alert, AlertKind, utcnow

log = logging.getLogger("flip.gateway.mqtt")

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
KIND = AlertKind.BROKER_DROP
_COUNTER = re.compile(r"\[counter=(\d+)\]")
_LOCK_KEY = 0x464C4950_4D515454 & 0x7FFFFFFFFFFFFFFF  # "FLIPMQTT", one advisory lock


def parse_counter(payload: bytes) -> int | None:
    """The counter's value, or None for anything that is not a small decimal number."""
    value = payload.strip()
    if not value or len(value) > 19 or not value.isdigit():
        return None
    return int(value)


class BrokerDrops:
    """The drop watch of one gateway for one broker (``broker`` names it, e.g. host:port)."""

    def __init__(self, db: Database, metrics: Metrics | None, broker: str) -> None:
        self.db = db
        self.metrics = metrics
        self.broker = broker
        self.last_seen: int | None = None

    def observe(self, counter: int) -> Alert | None:
        """Take one value of the broker's dropped counter; the alert raised for it, if any."""
        previous, self.last_seen = self.last_seen, counter
        if previous is not None and counter == previous:
            return None  # the common case: nothing new, no database work
        with self.db.session() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            alerted = self._last_alerted(session)
            if counter == alerted:
                return None
            new = counter - alerted if counter > alerted else counter  # below: it restarted
            if new <= 0:
                return None
            alert = Alert(
                vessel_id=None,
                kind=KIND,
                detail=(
                    f"MQTT broker {self.broker} dropped {new} message(s) it had acknowledged "
                    f"(its counter {DROPPED_TOPIC} is {counter}): grievances and heartbeats may "
                    "be missing until the vessels send them again — see docs/operations.md "
                    f"[counter={counter}]"
                ),
                created_at=utcnow(),
            )
            session.add(alert)
            session.commit()
            session.refresh(alert)
        if self.metrics is not None:
            self.metrics.mqtt_broker_dropped(self.broker, new)
        log.error("MQTT broker dropped messages", extra={"broker": self.broker, "dropped": new})
        return alert

    def _last_alerted(self, session: Session) -> int:
        """The counter value of this broker's newest drop alert (0: none yet)."""
        details = session.exec(
            select(Alert.detail)
            .where(
                Alert.kind == KIND,
                col(Alert.vessel_id).is_(None),
                col(Alert.detail).contains(f"MQTT broker {self.broker} "),
            )
            .order_by(col(Alert.id).desc())
            .limit(1)
        ).all()
        match = _COUNTER.search(details[0]) if details else None
        return int(match.group(1)) if match else 0
