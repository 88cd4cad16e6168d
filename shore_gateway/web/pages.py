"""Staff dashboard pages: login, fleet and map, grievance inbox, cases, live events, static.

Server-rendered (Jinja2, autoescaped); the little JavaScript there is (``static/app.js``)
draws the map, filters tables and listens to ``/events`` (SSE). Every page is same-origin
only (CSP ``default-src 'self'``): no CDN, no tiles, no fonts from elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import col, select

from shore_gateway.cases import desk, views
from shore_gateway.cases.api import cases_csv, grievance_rows, visible_cases, voice_audio
from shore_gateway.cases.models import AuditEntry, Case
from shore_gateway.cases.workflow import (
    CaseError,
    Status,
)
from shore_gateway.models import Vessel
from shore_gateway.params import RowId
from shore_gateway.registry import vessels_for
from shore_gateway.web import auth, catalog
from shore_gateway.web.auth import UserPost, WebAny, WebStaff
from shore_gateway.web.fleet import fleet, tracks
from shore_gateway.web.portal import LANG_PATTERN
from shore_gateway.web.render import STATIC, STATIC_TYPES, TZ_COOKIE, humane, page
from shore_gateway.web.timefmt import BadTimeZone, time_zones, zone

router = APIRouter(include_in_schema=False)
ACCOUNT_MSGS = {"password": "password_saved", "tz": "tz_saved"}  # catalog keys
LOCALES = Path(__file__).resolve().parent.parent.parent / "vessel_agent" / "locale"
LANG_NAMES = {
    "my": "Burmese",
    "th": "Thai",
    "km": "Khmer",
    "id": "Indonesian",
    "vi": "Vietnamese",
    "tl": "Tagalog",
    "en": "English",
    "und": "unknown",
}


def _db(request: Request) -> Any:
    return request.app.state.db


# --- login ---------------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    user = auth.current(request)
    if user is None:
        return RedirectResponse("/login", 303)
    return RedirectResponse("/dashboard" if user.staff else "/portal", 303)


@router.get("/login")
def login_form(request: Request, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    resp = page(request, "login.html", login_csrf=token, error=error)
    resp.set_cookie(
        auth.LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=120)],
    secret: Annotated[str, Form(max_length=400)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    cookie = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf):
        raise HTTPException(403, "missing or wrong CSRF token (reload the login page)")
    resp = RedirectResponse("/", 303)
    try:
        with _db(request).session() as session:
            auth.login(session, request, resp, username, secret)
    except auth.TooManyAttempts as exc:
        return page(request, "login.html", status_code=429, error=str(exc), login_csrf=csrf)
    except auth.LoginRefused as exc:
        return page(request, "login.html", status_code=401, error=str(exc), login_csrf=csrf)
    return resp


@router.post("/logout")
def logout(request: Request, _user: UserPost) -> Response:
    resp = RedirectResponse("/login", 303)
    with _db(request).session() as session:
        auth.end_session(session, request, resp)
    return resp


@router.get("/account")
def account(
    request: Request,
    user: WebAny,
    msg: Annotated[str | None, Query(max_length=40)] = None,
    lang: Annotated[str, Query(pattern=LANG_PATTERN)] = "en",
) -> Response:
    return _account(request, user, lang, ACCOUNT_MSGS.get(msg or ""))


def _account(
    request: Request, user: auth.WebUser, lang: str, msg: str | None, status_code: int = 200
) -> Response:
    """The account page in the reader's language (owners come from the portal with it)."""
    return page(
        request,
        "account.html",
        status_code=status_code,
        lang=lang,
        me=user,
        msg=msg,
        zones=sorted(time_zones()),
        s=catalog.strings(lang),
        t=catalog.strings(lang) if lang != "en" else None,
    )


@router.post("/account/timezone")
def account_timezone(
    request: Request,
    _user: UserPost,
    tz: Annotated[str, Form(max_length=64)],
    lang: Annotated[str, Form(pattern=LANG_PATTERN)] = "en",
) -> Response:
    """Keep the reader's time zone in a cookie (a year); every page then shows times in it."""
    try:
        zone(tz.strip())
    except BadTimeZone as exc:
        raise HTTPException(400, str(exc)) from None
    resp = RedirectResponse(f"/account?lang={lang}&msg=tz", 303)
    resp.set_cookie(
        TZ_COOKIE,
        tz.strip(),
        max_age=365 * 86400,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


@router.post("/account/password")
def account_password(
    request: Request,
    user: UserPost,
    current_secret: Annotated[str, Form(max_length=400)],
    new_password: Annotated[str, Form(max_length=400)],
) -> Response:
    with _db(request).session() as session:
        if not auth.check_secret(session, user.user, current_secret):
            return _account(request, user, "en", "current secret is wrong", 403)
        try:
            auth.set_password(session, user.user, new_password)
        except ValueError as exc:
            return _account(request, user, "en", str(exc), 400)
        desk.audit(session, user.user.name, "password_set")
    return RedirectResponse("/account?msg=password", 303)


# --- fleet ---------------------------------------------------------------------------------


@router.get("/dashboard")
def dashboard(request: Request, user: WebStaff) -> Response:
    with _db(request).session() as session:
        vessels = vessels_for(session, user.user)
        rows = fleet(session, vessels, silence_after_s=request.app.state.settings.silence_after_s)
        urgent = visible_cases(session, user.user, urgent=True, open_only=True, limit=20)
        urgent_rows = sorted(
            (views.staff_case(session, c, v) for c, v in urgent), key=views.deadline_order
        )
    return page(request, "dashboard.html", me=user, fleet=rows, urgent=urgent_rows)


@router.get("/dashboard/tracks.json")
def tracks_json(request: Request, user: WebStaff) -> Response:
    with _db(request).session() as session:
        data = tracks(session, vessels_for(session, user.user))
    return Response(
        json.dumps(data), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


# --- inbox and grievances ------------------------------------------------------------------


@router.get("/inbox")
def inbox(
    request: Request,
    user: WebStaff,
    vessel: Annotated[str | None, Query(max_length=120)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    urgent: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """Grievances, the most pressing case clock first; no text here (opening one shows it,
    audited)."""
    flag = {"yes": True, "no": False}.get(urgent or "")
    with _db(request).session() as session:
        rows = grievance_rows(session, vessel=vessel or None, lang=lang or None, urgent=flag)
        items = [
            views.staff_grievance(session, g, v, include_text=False, case=c) for g, v, c in rows
        ]
        items.sort(key=views.deadline_order)  # the most pressing clock first
        names = [v.name for v in vessels_for(session, user.user)]
    return page(
        request,
        "inbox.html",
        me=user,
        items=items,
        vessels=names,
        langs=LANG_NAMES,
        filters={"vessel": vessel, "lang": lang, "urgent": urgent},
    )


def _crew_label(lang: str, category: int) -> str | None:
    path = LOCALES / f"{lang}.toml"
    if lang not in LANG_NAMES or not path.is_file():
        return None
    with path.open("rb") as fh:
        catalog = tomllib.load(fh)
    value = catalog.get("cat", {}).get(f"{category:02X}") or catalog.get("cat", {}).get(
        f"{category:02x}"
    )
    return value if isinstance(value, str) else None


@router.get("/grievances/{grievance_id}")
def grievance_page(request: Request, grievance_id: RowId, user: WebStaff) -> Response:
    """One grievance with its text (this view is an audit entry), position, trip and lots."""
    with _db(request).session() as session:
        rows = grievance_rows(session, grievance_id=grievance_id, limit=1)
        if not rows:
            raise HTTPException(404, "no such grievance")
        g, v, c = rows[0]
        if g.voice_mode is None:  # a voice note is heard, not shown: its audio route audits
            desk.record_text_view(session, user.user.name, g, via="web")
        item = views.staff_grievance(session, g, v, include_text=True, case=c)
    hints = {
        "language": LANG_NAMES.get(item["lang"], item["lang"]),
        "crew_label": _crew_label(item["lang"], item["category"]),
    }
    return page(request, "grievance.html", me=user, g=item, hints=hints)


@router.get("/grievances/{grievance_id}/audio")
def grievance_audio(request: Request, grievance_id: RowId, user: WebStaff) -> Response:
    """The voice note the grievance page plays (audited per listening: ``voice_audio``)."""
    with _db(request).session() as session:
        return voice_audio(session, request, user.user.name, grievance_id, via="web")


# --- cases ---------------------------------------------------------------------------------


@router.get("/cases")
def cases_page(
    request: Request,
    user: WebStaff,
    status: Annotated[str | None, Query(max_length=32)] = None,
    vessel: Annotated[str | None, Query(max_length=120)] = None,
    q: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    with _db(request).session() as session:
        try:
            rows = visible_cases(
                session, user.user, status=status or None, vessel=vessel or None, q=q or None
            )
        except CaseError as exc:
            raise HTTPException(400, str(exc)) from None
        items = sorted((views.staff_case(session, c, v) for c, v in rows), key=views.deadline_order)
    return page(
        request,
        "cases.html",
        me=user,
        items=items,
        statuses=list(Status),
        filters={"status": status, "vessel": vessel, "q": q},
    )


@router.get("/cases.csv")
def cases_export(request: Request, user: WebAny) -> Response:
    """CSV of the cases this user may see (owners: the owner columns only)."""
    with _db(request).session() as session:
        rows = visible_cases(session, user.user)
        if user.staff:
            data = [views.staff_case(session, c, v) for c, v in rows]
        else:
            data = [views.owner_case(session, c, v) for c, v in rows]
        desk.audit(session, user.user.name, "export", rows=len(rows), what="web cases.csv")
    return Response(
        cases_csv(data, user.staff),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="cases.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/clocks")
def clocks(
    request: Request,
    _user: WebAny,
    due: Annotated[list[str], Query(max_length=200)],
    lang: Annotated[str, Query(pattern=LANG_PATTERN)] = "en",
) -> Response:
    """The clocks on a page, written again for now (``static/app.js`` asks every 30 s), so
    they tick without a reload — and without re-reading a page that shows crew words, which
    would be an audited view. ``due``: the ``data-due`` times of the page."""
    fmt = humane(request, lang)
    out = []
    for value in due:
        try:
            clock = fmt.clock(value[:40])
        except ValueError:
            raise HTTPException(422, f"due: not a time: {value[:40]!r}") from None
        out.append(clock)
    return Response(
        json.dumps(out), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


# --- live events ---------------------------------------------------------------------------


def _events_after(request: Request, after: int) -> list[dict[str, Any]]:
    with _db(request).session() as session:
        rows = session.exec(
            select(AuditEntry, Case, Vessel)
            .join(Case, col(Case.id) == col(AuditEntry.case_id))
            .join(Vessel, col(Vessel.id) == col(Case.vessel_id))
            .where(col(AuditEntry.id) > after, col(AuditEntry.action).in_(list(desk.EVENT_ACTIONS)))
            .order_by(col(AuditEntry.id))
            .limit(100)
        ).all()
        return [
            {
                "id": e.id,
                "action": e.action,
                "case": c.ref,
                "vessel": v.name,
                "status": c.status,
                "urgent": c.urgent,
                "time": views.iso(e.time),
            }
            for e, c, v in rows
        ]


def _last_event_id(request: Request) -> int:
    with _db(request).session() as session:
        last = session.exec(select(AuditEntry.id).order_by(col(AuditEntry.id).desc())).first()
        return int(last or 0)


@router.get("/events")
async def events(
    request: Request,
    _user: WebStaff,
    max_s: Annotated[float, Query(gt=0, le=600)] = 300.0,
    poll_s: Annotated[float, Query(ge=0.1, le=10)] = 1.0,
) -> StreamingResponse:
    """Server-sent events: case changes (opened, transition, …) as they are committed.

    Reads the audit log (so it sees changes made by every gateway process), resumes from
    ``Last-Event-ID``, and ends after ``max_s`` (the browser reconnects on its own).
    """
    header = request.headers.get("last-event-id", "")
    if header.isascii() and header.isdigit():
        after = int(header)
    else:
        after = await run_in_threadpool(_last_event_id, request)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal after
        yield b"retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        end = loop.time() + max_s
        while loop.time() < end:
            if await request.is_disconnected():
                return
            for ev in await run_in_threadpool(_events_after, request, after):
                after = ev["id"]
                yield f"id: {ev['id']}\nevent: case\ndata: {json.dumps(ev)}\n\n".encode()
            await asyncio.sleep(poll_s)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- static --------------------------------------------------------------------------------


FONT_TYPES = {
    ".woff2": "font/woff2",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@router.get("/fonts/{name}")
def fonts(name: str) -> Response:
    """The shipped Noto Sans Myanmar / Khmer / Thai subsets and their fonts.css and OFL licence
    (``flip.assets.FONTS_DIR``, shared with the crew app): Burmese, Khmer and Thai read
    right on a machine without those system fonts."""
    from flip.assets import FONTS_DIR

    path = FONTS_DIR / name
    if "/" in name or name.startswith(".") or path.suffix not in FONT_TYPES or not path.is_file():
        raise HTTPException(404, "not found")
    return FileResponse(
        path, media_type=FONT_TYPES[path.suffix], headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    """Bundled assets only: a fixed directory, no sub-paths."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        raise HTTPException(404, "not found")
    return FileResponse(
        path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "max-age=3600"}
    )
