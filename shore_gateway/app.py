"""The gateway's HTTP service: ``create_app(settings)``.

Every error is a JSON ``{"detail": "..."}`` with a 4xx status for anything the client got wrong
(malformed, oversize, unauthorised): request bodies are capped by :class:`BodyLimit` before any
handler reads them, validation errors are flattened to one readable line, and handlers parse
untrusted input with typed errors. A 500 means a bug, and is logged without request bodies.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shore_gateway.config import Settings
from shore_gateway.db import Database, current_revision
from shore_gateway.errors import RemoteError
from shore_gateway.metrics import Metrics
from shore_gateway.pipeline_api import FrameSink, StoreRawSink

log = logging.getLogger(__name__)


class BodyTooLarge(RemoteError):
    """A request body over the configured limit (declared or streamed)."""


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _json(send, 400, "Content-Length is not a number")
                    return
                if declared > self.limit:
                    await _json(send, 413, f"request body larger than {self.limit} bytes")
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _json(send, 413, f"request body larger than {self.limit} bytes")


async def _json(send: Send, status: int, detail: str) -> None:
    body = JSONResponse({"detail": detail}).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return "; ".join(parts) or "invalid request"


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    sink: FrameSink | None = None,
    migrate: bool = True,
) -> FastAPI:
    """Build the gateway app. Runs migrations to head unless ``migrate=False``."""
    settings = settings or Settings()
    db = db or Database(settings.db_url)
    if migrate:
        db.migrate()
    metrics = Metrics()
    from shore_gateway.cases.overdue import OverdueCollector

    metrics.registry.register(OverdueCollector(db))  # overdue cases, counted at each scrape
    app = FastAPI(
        title="flip-sync shore gateway",
        version="0.1.0",
        description="Crew grievances from sea to shore: ingest, context, cases.",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.metrics = metrics
    app.state.sink = sink or _default_sink(settings, db, metrics)
    app.state.services = None  # set by `flip gateway serve` (shore_gateway.ingest.service)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    from shore_gateway.web.errors import error_page, wants_html

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if 400 <= exc.status_code < 500:
            metrics.http_reject(exc.status_code)
        if exc.status_code >= 400 and wants_html(request):  # a person's browser: a page
            return await run_in_threadpool(
                error_page, request, exc.status_code, str(exc.detail), exc.headers
            )
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        metrics.http_reject(422)
        if wants_html(request):
            return await run_in_threadpool(error_page, request, 422, _validation_message(exc))
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        if wants_html(request):
            return await run_in_threadpool(error_page, request, 500, "internal error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> Response:
        """200 when the database answers; 503 otherwise."""
        try:
            db.ping()
            revision = current_revision(db.engine)
        except Exception as exc:  # any database failure means "not healthy"
            return JSONResponse({"status": "unhealthy", "db": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "db": "ok", "schema": revision})

    @app.get("/metrics", tags=["ops"])
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    from shore_gateway.api import router as api_router
    from shore_gateway.ingest.cloudloop import router as cloudloop_router
    from shore_gateway.ingest.frames import router as frames_router
    from shore_gateway.ingest.rockblock import router as rockblock_router
    from shore_gateway.web import router as web_router

    app.include_router(api_router)
    app.include_router(rockblock_router)
    app.include_router(cloudloop_router)
    app.include_router(frames_router)
    app.include_router(web_router)  # case desk API, dashboard, owner portal
    return app


def _default_sink(settings: Settings, db: Database, metrics: Metrics) -> FrameSink:
    """The frame pipeline when shore keys are configured (decrypting here unless
    ``settings.decrypt`` is off); otherwise (no keys, or an empty keys directory) the raw
    store, whose ``pending`` rows the next start with keys processes."""
    if settings.keys_dir is None or not any(settings.keys_dir.glob("*.pem")):
        return StoreRawSink(db, metrics, max_frame_bytes=settings.max_frame_bytes)
    from flip.keyfiles import load_shore
    from shore_gateway.hooks import default_hooks
    from shore_gateway.pipeline import Pipeline

    # Without decryption this host needs no sealing key at all (split deployment).
    seals = load_shore(settings.keys_dir).seals if settings.decrypt else None
    limit = settings.max_frame_bytes
    return Pipeline(db, metrics, seal_keys=seals, max_frame_bytes=limit, hooks=default_hooks())


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the background services (DirectIP, MQTT, downlink) when some were attached."""
    services = getattr(app.state, "services", None)
    if services is not None:
        await services.start()
    try:
        yield
    finally:
        if services is not None:
            await services.stop()


def describe(app: FastAPI) -> dict[str, Any]:
    """A short summary for logs and the CLI's ready line."""
    return {"routes": sorted({getattr(r, "path", "") for r in app.routes})}
