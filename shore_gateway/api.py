"""REST endpoints for vessels, positions and catch data (CONTRACTS.md, gateway)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, col, select

from shore_gateway.cases.views import terminal_health
from shore_gateway.context.ais import ingest_ais
from shore_gateway.context.epcis import EpcisError, ingest_epcis
from shore_gateway.context.positions import ingest_naf, position_at, track
from shore_gateway.models import Alert, AlertKind, Position, Role, Vessel
from shore_gateway.registry import AnyUser, RegistryError, Staff, get_vessel, vessels_for

router = APIRouter()
STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})
#: Alert kinds an owner may see (as kind and time only): about the link, not about a person.
OWNER_ALERT_KINDS = frozenset({AlertKind.SILENCE, AlertKind.GAP})

_TEXT_TYPES = ("text/plain", "application/octet-stream", "")


def _vessel_json(v: Vessel) -> dict[str, Any]:
    return {
        "name": v.name,
        "imei": v.imei,
        "owner": v.owner,
        "ircs": v.ircs,
        "imo": v.imo,
        "mmsi": v.mmsi,
        "registry_no": v.registry_no,
        "flag": v.flag,
    }


def _position_json(p: Position) -> dict[str, Any]:
    return {
        "time": p.time.isoformat(),
        "lat": p.lat,
        "lon": p.lon,
        "speed_kn": p.speed_kn,
        "course": p.course,
        "source": p.source,
        "accuracy_m": p.accuracy_m,
    }


async def _text_lines(request: Request) -> list[bytes]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in _TEXT_TYPES and not ctype.startswith("text/"):
        raise HTTPException(415, "send text/plain, one message per line")
    lines = (await request.body()).splitlines()
    limit = request.app.state.settings.max_lines
    if len(lines) > limit:
        raise HTTPException(413, f"more than {limit} lines in one request")
    return lines


def _session(request: Request) -> Any:
    return request.app.state.db.session()


@router.get("/api/vessels", tags=["vessels"])
def list_vessels(request: Request, user: AnyUser) -> list[dict[str, Any]]:
    """Staff and admins see every vessel; owners (and buyers) only their owner's. Each with
    ``link``: its terminal's health (last contact, silence, messages missing since, queue)."""
    after = request.app.state.settings.silence_after_s
    staff = user.role in STAFF_ROLES
    with _session(request) as session:
        return [
            {**_vessel_json(v), "link": link_health(session, v, after, staff=staff)}
            for v in vessels_for(session, user)
        ]


def link_health(session: Session, v: Vessel, after_s: float, *, staff: bool) -> dict[str, Any]:
    """A vessel's link health for the API: staff see every open alert kind, owners only the
    kinds that say nothing about a person (silence, gaps)."""
    health = terminal_health(session, v, silence_after_s=after_s)
    kinds = sorted({a["kind"] for a in health["alerts"] if staff or a["kind"] in OWNER_ALERT_KINDS})
    return {
        "health": health["health"],
        "last_contact": health["last_contact"],
        "silent_since": health["silent_since"],
        "missing_since": health["missing_since"],
        "queue_depth": health["queue_depth"],
        "alerts": kinds,
    }


@router.get("/api/alerts", tags=["vessels"])
def list_alerts(
    request: Request,
    user: AnyUser,
    vessel: Annotated[str | None, Query(max_length=120)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    state: Annotated[str, Query(pattern="^(open|resolved|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Alerts (gaps, chain mismatches, silence, seq collisions, seals that do not open…),
    newest first; open ones unless ``state=resolved|all``.

    Staff: every alert with its detail (``vessel`` null for one about the gateway itself).
    Owners and buyers: only their vessels' ``silence`` and ``gap`` alerts, with no detail —
    details name message seqs, which could point at a person.
    """
    staff = user.role in STAFF_ROLES
    with _session(request) as session:
        allowed = {v.id: v.name for v in vessels_for(session, user)}  # staff: every vessel
        stmt = select(Alert).order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
        if not staff:
            stmt = stmt.where(
                col(Alert.vessel_id).in_(list(allowed)),
                col(Alert.kind).in_(sorted(OWNER_ALERT_KINDS)),
            )
        if vessel:
            ids = [i for i, n in allowed.items() if n == vessel]
            stmt = stmt.where(col(Alert.vessel_id).in_(ids))
        if kind:
            stmt = stmt.where(Alert.kind == kind)
        if state == "open":
            stmt = stmt.where(col(Alert.resolved_at).is_(None))
        elif state == "resolved":
            stmt = stmt.where(col(Alert.resolved_at).is_not(None))
        out = []
        for a in session.exec(stmt.limit(limit)).all():
            item: dict[str, Any] = {
                "kind": a.kind,
                "vessel": allowed.get(a.vessel_id) if a.vessel_id is not None else None,
                "since": a.created_at.isoformat(),
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
                "open": a.resolved_at is None,
            }
            if staff:
                item = {"id": a.id, **item, "detail": a.detail}
            out.append(item)
        return out


def _vessel_or_404(session: Session, name: str) -> Vessel:
    try:
        return get_vessel(session, name)
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/api/vessels/{name}/positions", tags=["vessels"])
def vessel_positions(
    request: Request,
    name: str,
    _user: Staff,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    """The vessel's track in time order (staff)."""
    start, end = _aware(start, "start"), _aware(end, "end")
    with _session(request) as session:
        vessel = _vessel_or_404(session, name)
        assert vessel.id is not None
        rows = track(session, vessel.id, start=start, end=end, limit=limit)
        return [_position_json(p) for p in rows]


@router.get("/api/vessels/{name}/position", tags=["vessels"])
def vessel_position_at(
    request: Request,
    name: str,
    at: dt.datetime,
    _user: Staff,
    max_speed_kn: Annotated[float, Query(gt=0, le=60)] = 15.0,
) -> dict[str, Any]:
    """Estimated position at ``at`` with the age of the nearest fix and an uncertainty bound."""
    when = _aware(at, "at")
    assert when is not None
    with _session(request) as session:
        vessel = _vessel_or_404(session, name)
        assert vessel.id is not None
        est = position_at(session, vessel.id, when, max_speed_kn=max_speed_kn)
    if est is None:
        raise HTTPException(404, f"no positions for vessel {name!r}")
    return {
        "time": est.time.isoformat(),
        "lat": est.lat,
        "lon": est.lon,
        "age_s": est.age_s,
        "uncertainty_m": est.uncertainty_m,
        "method": est.method,
        "source": est.source,
    }


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(422, f"{name}: give a time zone (e.g. 2024-05-01T12:00:00Z)")
    return value.astimezone(dt.UTC)


@router.post("/positions/naf", tags=["context"])
async def post_naf(request: Request, _user: Staff) -> dict[str, Any]:
    """NAF position reports, one per line → accepted count and rejected lines with reasons."""
    lines = await _text_lines(request)

    def work() -> dict[str, Any]:
        with _session(request) as session:
            return ingest_naf(session, lines).as_dict()

    return await run_in_threadpool(work)


@router.post("/positions/ais", tags=["context"])
async def post_ais(
    request: Request, _user: Staff, time: dt.datetime | None = None
) -> dict[str, Any]:
    """``!AIVDM`` sentences, one per line; time from tag block ``c:``, else ``time``, else now."""
    when = _aware(time, "time") or dt.datetime.now(dt.UTC)
    lines = await _text_lines(request)

    def work() -> dict[str, Any]:
        with _session(request) as session:
            return ingest_ais(session, lines, when).as_dict()

    return await run_in_threadpool(work)


@router.post("/catch/epcis", tags=["context"])
async def post_epcis(request: Request, _user: Staff) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD document with GDST 1.2 KDEs → accepted count and warnings."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", "application/ld+json", ""):
        raise HTTPException(415, "send application/ld+json or application/json")
    body = await request.body()

    def work() -> dict[str, Any]:
        with _session(request) as session:
            return ingest_epcis(session, body)

    try:
        return await run_in_threadpool(work)
    except EpcisError as exc:
        raise HTTPException(400, str(exc)) from None
