"""Start and stop the connectors and the outbox dispatcher with the gateway process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from shore_gateway.cases.config import CaseSettings, default_settings
from shore_gateway.cases.outbox import Connector, Dispatcher
from shore_gateway.db import Database

log = logging.getLogger(__name__)


def build_connectors(
    settings: CaseSettings, db: Database, *, mqtt_url: str | None = None
) -> dict[str, Any]:
    """The enabled connectors, configured (not yet started)."""
    connectors: dict[str, Any] = {}
    for name in settings.enabled():
        if name == "mqtt":
            from shore_gateway.cases.mqtt import MqttConnector

            url = settings.mqtt_url or mqtt_url
            if not url:
                raise ValueError("the mqtt case connector needs FLIP_CASES_MQTT_URL or --mqtt")
            connectors[name] = MqttConnector(url, prefix=settings.mqtt_prefix, db=db)
        elif name == "primero":
            from shore_gateway.cases.primero import PrimeroConnector

            if not (settings.primero_url and settings.primero_user):
                raise ValueError("the primero connector needs FLIP_CASES_PRIMERO_URL and _USER")
            connectors[name] = PrimeroConnector(
                settings.primero_url, settings.primero_user, settings.primero_password or ""
            )
    return connectors


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the dispatcher (and the MQTT status subscriber) while the app serves."""
    settings: CaseSettings = getattr(app.state, "case_settings", None) or default_settings()
    app.state.case_settings = settings
    db: Database = app.state.db
    connectors = build_connectors(
        settings, db, mqtt_url=getattr(app.state.settings, "mqtt_url", None)
    )
    dispatcher: Dispatcher | None = None
    if connectors:
        for connector in connectors.values():
            if hasattr(connector, "start"):
                connector.start(wait_s=0)
        typed: dict[str, Connector] = connectors
        dispatcher = Dispatcher(
            db,
            typed,
            max_backoff_s=settings.max_backoff_s,
            interval_s=settings.dispatch_interval_s,
        )
        dispatcher.start()
        log.info("case connectors running: %s", ", ".join(connectors))
    app.state.case_dispatcher = dispatcher
    try:
        yield
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        for connector in connectors.values():
            for method in ("stop", "close"):
                if hasattr(connector, method):
                    getattr(connector, method)()
