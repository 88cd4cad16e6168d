"""The gateway's background services, started and stopped by the app's lifespan.

One :class:`Services` per gateway process: the DirectIP MO receiver, MQTT ingest (and MT
publishing), the downlink sender, the silence check (shore_gateway/silence.py) and a one-off
recovery pass over raw arrivals left ``pending`` (stored by a process that died before
processing them, or by an older sink). Each is optional, so a deployment can run, say, only
MQTT ingest on one host and the downlink sender on another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import col, select

from shore_gateway.cloudloop import CloudloopMT
from shore_gateway.config import Settings, parse_hostport
from shore_gateway.db import Database
from shore_gateway.downlink import DownlinkSender, Route, parse_route
from shore_gateway.errors import LocalError
from shore_gateway.ingest.broker_drops import BrokerDrops
from shore_gateway.ingest.directip import DirectIPLimits, DirectIPServer
from shore_gateway.ingest.mqtt import MqttLink
from shore_gateway.metrics import Metrics
from shore_gateway.models import RawFrame
from shore_gateway.pipeline import Pipeline, reprocess_pending
from shore_gateway.pipeline_api import FrameSink

log = logging.getLogger("flip.gateway.services")


class ServiceError(LocalError):
    """A background service could not start (the message says which and why)."""


def mqtt_address(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` (or ``host:port``) → (host, port); port 1883 by default."""
    from urllib.parse import urlsplit

    parsed = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ServiceError(f"unsupported MQTT URL scheme {parsed.scheme!r}")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


class Services:
    """DirectIP, MQTT, downlink and recovery around one frame sink."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        sink: FrameSink,
        metrics: Metrics,
        *,
        sign_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.sink = sink
        self.metrics = metrics
        self.sign_key = sign_key
        self.directip: DirectIPServer | None = None
        self.mqtt: MqttLink | None = None
        self.sender: DownlinkSender | None = None
        self.info: dict[str, Any] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> dict[str, Any]:
        """Start every configured service; returns what is listening where."""
        s = self.settings
        self._stop = asyncio.Event()
        if s.directip_enabled:
            host, port = parse_hostport(s.directip)
            self.directip = DirectIPServer(
                self.sink,
                host=host,
                port=port,
                limits=DirectIPLimits(
                    max_connections=s.directip_max_connections,
                    read_timeout_s=s.directip_read_timeout_s,
                ),
                metrics=self.metrics,
            )
            try:
                bound = await self.directip.start()
            except OSError as exc:
                raise ServiceError(f"cannot listen for DirectIP on {s.directip}: {exc}") from None
            self.info["directip"] = f"{bound[0]}:{bound[1]}"
        if s.mqtt_url:
            await self._start_mqtt(s.mqtt_url)
        if isinstance(self.sink, Pipeline):
            self._tasks.append(asyncio.create_task(self._recover(self.sink)))
        if s.silence_check_enabled:
            from shore_gateway.silence import run_silence_checks

            self._tasks.append(
                asyncio.create_task(
                    run_silence_checks(
                        self.db,
                        self._stop,
                        interval_s=s.silence_check_interval_s,
                        after_s=s.silence_after_s,
                    )
                )
            )
            self.info["silence_after_s"] = s.silence_after_s
        if self.sign_key is not None and s.downlink_enabled:
            route = parse_route(s.mt) if s.mt else None
            self.sender = DownlinkSender(
                self.db,
                self.sign_key,
                default_route=route,
                publish=self.mqtt.publish if self.mqtt is not None else None,
                mt_prefix=f"{s.mqtt_prefix.rstrip('/')}/mt",
                interval_s=s.downlink_interval_s,
                cloudloop=(
                    CloudloopMT(s.cloudloop_api, s.cloudloop_api_token)
                    if s.cloudloop_api and s.cloudloop_api_token
                    else None
                ),
            )
            self._tasks.append(asyncio.create_task(self.sender.run(self._stop)))
            self.info["mt"] = _describe(route, self.mqtt is not None)
        return dict(self.info)

    async def _start_mqtt(self, url: str) -> None:
        s = self.settings
        host, port = mqtt_address(url)
        client_id = s.mqtt_client_id or default_client_id(s)
        drops = BrokerDrops(self.db, self.metrics, f"{host}:{port}")
        self.mqtt = MqttLink(
            host,
            port,
            self.sink,
            client_id=client_id,
            prefix=s.mqtt_prefix,
            group=s.mqtt_group,
            session_expiry_s=s.mqtt_session_expiry_s,
            receive_maximum=s.mqtt_receive_maximum,
            metrics=self.metrics,
            on_dropped=drops.observe,
        )
        if not await self.mqtt.start():
            await self.mqtt.stop()
            raise ServiceError(f"MQTT broker {host}:{port} did not accept the subscription")
        self.info["mqtt"] = {"subscription": self.mqtt.subscription, "client_id": client_id}

    async def stop(self) -> None:
        """Stop accepting, finish what is in flight (confirmations go out), stop the loops."""
        self._stop.set()
        if self.directip is not None:
            await self.directip.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 10)
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _recover(self, pipeline: Pipeline, batch: int = 200) -> None:
        """Run raw arrivals left ``pending`` through the pipeline (idempotent; any process)."""
        done = 0
        last_id = 0
        while not self._stop.is_set():
            rows = await asyncio.to_thread(self._pending, last_id, batch)
            if not rows:
                break
            done += await asyncio.to_thread(reprocess_pending, pipeline, rows)
            last_id = max(r.id or 0 for r in rows)
        if done:
            log.info("recovered pending raw frames", extra={"count": done})

    def _pending(self, after: int, limit: int) -> list[RawFrame]:
        with self.db.session() as session:
            return list(
                session.exec(
                    select(RawFrame)
                    .where(RawFrame.status == "pending", col(RawFrame.id) > after)
                    .order_by(col(RawFrame.id))
                    .limit(limit)
                ).all()
            )


def load_sign_key(directory: Path) -> Ed25519PrivateKey:
    """The shore signing key (``*-sign.pem``) alone: a ``--no-decrypt`` host has no seal key.

    Raises:
        KeyFileError: none or several signing keys, or an unreadable one.
    """
    from flip.keyfiles import KeyFileError, load_signing

    signs = sorted(Path(directory).glob("*-sign.pem"))
    if len(signs) != 1:
        raise KeyFileError(f"{directory}: expected exactly one *-sign.pem, found {len(signs)}")
    return load_signing(signs[0])


def default_client_id(settings: Settings) -> str:
    """Stable across restarts of one instance: host name + DirectIP port (pid if port 0)."""
    port = parse_hostport(settings.directip)[1]
    return f"flip-gw-{socket.gethostname()}-{port or os.getpid()}"[:64]


def _describe(route: Route | None, mqtt: bool) -> str | None:
    if route is not None:
        return f"directip://{route.host}:{route.port}"
    return "mqtt" if mqtt else None
