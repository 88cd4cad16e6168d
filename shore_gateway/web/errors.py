"""Errors for the reader: a browser gets a page that says what happened and offers a way on;
an API client (anything under ``/api/``, or not asking for HTML) keeps the JSON
``{"detail": …}`` of CONTRACTS.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import HTMLResponse

from shore_gateway.web.render import page

#: Paths that are APIs or machine feeds whatever the Accept header says.
MACHINE_PREFIXES = (
    "/api/",
    "/healthz",
    "/metrics",
    "/events",
    "/clocks",
    "/dashboard/tracks.json",
    "/positions/",
    "/catch/",
    "/rockblock",
    "/primero",
    "/static/",
    "/fonts/",
)
TITLES = {
    400: "That request was not right",
    401: "Please log in",
    403: "Not for this account",
    404: "Not found",
    405: "Not possible here",
    409: "That cannot be done now",
    413: "Too large",
    415: "Wrong kind of content",
    422: "Something in the address or form was not right",
    429: "Too many tries",
    500: "Something went wrong on our side",
}


def wants_html(request: Request) -> bool:
    """A person's browser navigating to a page (not an API client or a script's fetch)."""
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """The HTML page for an error, with the logged-in user's menu and a way back."""
    from shore_gateway.web import auth

    try:
        me = auth.current(request)
    except Exception:  # the database itself may be what failed
        me = None
    hint = None
    if status == 403 and detail == "staff only":
        detail = "This page is for shore staff."
        hint = "portal"
    elif status == 500:
        detail = "The error was logged. Try again in a moment."
    resp = page(
        request,
        "error.html",
        status_code=status,
        me=me,
        title=TITLES.get(status, "Something went wrong"),
        detail=detail,
        hint=hint,
    )
    for name, value in (headers or {}).items():
        if name.lower() not in ("content-type", "content-length"):
            resp.headers[name] = value
    return resp
