"""Owner portal (and the optional buyer view): only their own vessels, only the owner view.

Everything here is built from :func:`shore_gateway.cases.views.owner_case` and
:func:`~shore_gateway.cases.views.terminal_health` — allow-listed fields — so crew identity,
receipt codes, message seqs, free text and language cannot reach these pages. Strings come in
the seven crew languages (``?lang=my|th|km|id|vi|tl|en``, catalogs in ``locale/``); times in
the reader's zone (``/account``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shore_gateway.cases import views
from shore_gateway.cases.api import visible_cases
from shore_gateway.models import Role
from shore_gateway.registry import vessels_for
from shore_gateway.web import catalog
from shore_gateway.web.auth import WebAny
from shore_gateway.web.render import page

router = APIRouter(include_in_schema=False)
LANG_PATTERN = "^(" + "|".join(catalog.LANGS) + ")$"


@router.get("/portal")
def portal(
    request: Request,
    user: WebAny,
    lang: Annotated[str, Query(pattern=LANG_PATTERN)] = "en",
) -> Response:
    """The owner's (or buyer's) vessels with terminal health, and their cases."""
    with request.app.state.db.session() as session:
        vessels = vessels_for(session, user.user)
        after = request.app.state.settings.silence_after_s
        health = [views.terminal_health(session, v, silence_after_s=after) for v in vessels]
        cases = [views.owner_case(session, c, v) for c, v in visible_cases(session, user.user)]
    cases.sort(key=views.deadline_order)
    by_lot: dict[str, list[str]] = {}
    for c in cases:
        for lot in c["lots"]:
            by_lot.setdefault(lot, []).append(c["ref"])
    labels: dict[str, Any] = {s: catalog.labels(lang, s) for s in ("group", "status", "action")}
    return page(
        request,
        "portal.html",
        lang=lang,
        me=user,
        t=catalog.strings(lang),
        labels=labels,
        languages=catalog.language_names(),
        health=health,
        cases=cases,
        by_lot=by_lot,
        buyer=user.user.role == Role.BUYER,
    )
