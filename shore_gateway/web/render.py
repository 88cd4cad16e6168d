"""Jinja2 rendering (autoescaped), the bundled static files, each request's formatter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shore_gateway.models import utcnow
from shore_gateway.web import catalog
from shore_gateway.web.timefmt import BadTimeZone, Humane, zone

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Security headers on every page: no third-party anything (all assets are bundled).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

#: The cookie that keeps the reader's chosen time zone (an IANA name; set at /account).
TZ_COOKIE = "flip_tz"


def reader_zone(request: Request) -> str:
    """The reader's time zone name from the cookie; UTC when unset or not a zone."""
    name = request.cookies.get(TZ_COOKIE, "UTC")
    try:
        zone(name)
    except BadTimeZone:
        return "UTC"
    return name


def humane(request: Request, lang: str = "en") -> Humane:
    """The formatter for this request: the reader's language and zone, and now."""
    return Humane(
        locale=lang, tz=zone(reader_zone(request)), now=utcnow(), phrases=catalog.phrases(lang)
    )


def page(
    request: Request, template: str, status_code: int = 200, *, lang: str = "en", **context: Any
) -> HTMLResponse:
    """Render a template into an HTML response with the security headers; ``fmt`` (the
    request's :class:`Humane`) formats every time, duration and count on the page."""
    fmt = context.pop("fmt", None) or humane(request, lang)
    # Overdue urgent cases, read for staff before the handler's own session (auth._web_staff):
    # a second session here would wait on SQLite's write lock held by the handler's.
    context.setdefault("alarm", getattr(request.state, "alarm", None))
    html = env.get_template(template).render(
        request=request, fmt=fmt, lang=lang, tz_name=reader_zone(request), **context
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
