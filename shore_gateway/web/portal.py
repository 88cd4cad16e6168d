"""Owner portal (and the optional buyer view): only their own vessels, only the owner view.

Everything here is built from :func:`shore_gateway.cases.views.owner_case` and
:func:`~shore_gateway.cases.views.terminal_health` — allow-listed fields — so crew identity,
receipt codes, message seqs, free text and language cannot reach these pages. Strings come in
English and Thai (``?lang=th``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shore_gateway.cases import views
from shore_gateway.cases.api import visible_cases
from shore_gateway.registry import vessels_for
from shore_gateway.web.auth import WebAny
from shore_gateway.web.render import STATUS_TH, page, strings

router = APIRouter(include_in_schema=False)


@router.get("/portal")
def portal(
    request: Request,
    user: WebAny,
    lang: Annotated[str, Query(pattern="^(en|th)$")] = "en",
) -> Response:
    """The owner's (or buyer's) vessels with terminal health, and their cases."""
    with request.app.state.db.session() as session:
        vessels = vessels_for(session, user.user)
        after = request.app.state.settings.silence_after_s
        health = [
            views.terminal_health(session, v, silence_after_s=after) for v in vessels
        ]
        cases = [views.owner_case(session, c, v) for c, v in visible_cases(session, user.user)]
    by_lot: dict[str, list[str]] = {}
    for c in cases:
        for lot in c["lots"]:
            by_lot.setdefault(lot, []).append(c["ref"])
    status_names: dict[str, Any] = STATUS_TH if lang == "th" else {}
    return page(
        request,
        "portal.html",
        me=user,
        t=strings(lang),
        lang=lang,
        health=health,
        cases=cases,
        by_lot=by_lot,
        buyer=user.user.role == "buyer",
        status_names=status_names,
    )
