"""Primero v2 connector (FIELD-FACTS §7): client-supplied UUIDs, JWT refresh, PATCH, webhook.

Out (from the outbox):

- ``case_new`` → ``POST /api/v2/cases`` ``{"data": {"id": <case UUID>, ...}}``. 200/201/204 are
  success; **409** means Primero already has that id (an earlier attempt got through but its
  answer was lost), which is success too — so retries are safe.
- ``case_update`` / ``mark_synced`` → ``PATCH /api/v2/cases/<UUID>``.
- Auth: ``POST /api/v2/tokens`` ``{"user": {"user_name", "password"}}`` → ``{"token": JWT}``;
  the token is renewed a minute before its ``exp`` and once on any 401.
- Connection errors, timeouts, 5xx, 404 (case not there yet) and 429 raise
  :class:`DeliveryFailed`: the dispatcher retries later, in order.

In: ``POST /hooks/primero`` — Primero's outbound webhook for case create/update
(``Authorization: Bearer <FLIP_CASES_PRIMERO_WEBHOOK_SECRET>``). Its ``workflow``/``status``
is mapped onto the desk's states (:data:`FROM_PRIMERO`), the steps in between are walked, and a
``mark_synced`` PATCH is queued back.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import select

from shore_gateway.cases import desk
from shore_gateway.cases.config import CaseSettings, default_settings
from shore_gateway.cases.models import Case, OutboxEntry
from shore_gateway.cases.outbox import DeliveryFailed
from shore_gateway.cases.workflow import CaseError, Status, path_to
from shore_gateway.models import utcnow

#: Desk state → Primero workflow stage.
TO_PRIMERO: dict[str, str] = {
    "new": "new",
    "acknowledged": "new",
    "investigating": "assessment",
    "remediation_in_progress": "case_plan",
    "remediated": "services_implemented",
    "closed": "closed",
    "referred": "case_plan",
    "withdrawn": "closed",
}
#: Primero workflow stage → desk state (``new`` says nothing new).
FROM_PRIMERO: dict[str, Status | None] = {
    "new": None,
    "reopened": Status.INVESTIGATING,
    "assessment": Status.INVESTIGATING,
    "case_plan": Status.REMEDIATION_IN_PROGRESS,
    "services_implemented": Status.REMEDIATED,
    "closed": Status.CLOSED,
}
OK = frozenset({200, 201, 202, 204})


def primero_record(payload: dict[str, Any]) -> dict[str, Any]:
    """A Primero case record (``data``) from the connector payload of ``views.connector_case``."""
    data: dict[str, Any] = {
        "id": payload["case_id"],
        "status": "closed" if payload["status"] in ("closed", "withdrawn") else "open",
        "workflow": TO_PRIMERO.get(payload["status"], "new"),
        "flip_case_ref": payload["case_ref"],
        "flip_status": payload["status"],
        "risk_level": "high" if payload.get("urgent") else "medium",
        "protection_concerns": [payload.get("category_label", "")],
        "registration_date": (payload.get("opened_at") or "")[:10],
        "vessel_name": payload["vessel"]["name"],
        "vessel_imo": payload["vessel"].get("imo"),
        "flip_actions": payload.get("actions", []),
    }
    if payload.get("message"):  # a conversation message moved the case (the crew answered)
        data["flip_last_message"] = payload["message"]
    g = payload.get("grievance")
    if g:
        data["flip_grievance_id"] = g["id"]
        data["language"] = [g["lang"]]
        if g.get("position"):
            data["location_current"] = f"{g['position']['lat']:.4f},{g['position']['lon']:.4f}"
        if g.get("kind") == "voice":  # no words to copy: say so, and where staff can listen
            data["narrative"] = (
                f"Voice note, {g.get('duration_s', 0):.0f} s, language {g['lang']}: listen in "
                f"flip-sync ({g.get('audio', '')}, staff login; every listening is audited)."
            )
        elif "text" in g:
            data["narrative"] = g["text"]
    return data


class PrimeroConnector:
    """Delivers outbox rows to one Primero v2 server."""

    name = "primero"

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.password = password
        self.http = client or httpx.Client(timeout=timeout_s)
        self.clock = clock
        self._token: str | None = None
        self._expires: dt.datetime | None = None

    def close(self) -> None:
        self.http.close()

    def token(self, *, force: bool = False) -> str:
        """A valid JWT, fetched again when missing, expiring within a minute, or forced."""
        now = self.clock()
        if (
            not force
            and self._token
            and (self._expires is None or self._expires - dt.timedelta(seconds=60) > now)
        ):
            return self._token
        body = {"user": {"user_name": self.user, "password": self.password}}
        resp = self._send("POST", "/api/v2/tokens", body, auth=False)
        if resp.status_code not in OK:
            raise DeliveryFailed(f"Primero refused the login: HTTP {resp.status_code}")
        try:
            token = resp.json()["token"]
            claims = jwt.decode(token, options={"verify_signature": False})
        except (ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
            raise DeliveryFailed(f"Primero sent an unusable token: {exc}") from exc
        exp = claims.get("exp")
        self._token = str(token)
        self._expires = dt.datetime.fromtimestamp(exp, dt.UTC) if isinstance(exp, int) else None
        return self._token

    def _send(
        self, method: str, path: str, body: dict[str, Any], *, auth: bool = True
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
        try:
            return self.http.request(method, self.base_url + path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"Primero unreachable: {type(exc).__name__}") from exc

    def _call(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        resp = self._send(method, path, body)
        if resp.status_code == 401:  # expired or revoked early: log in again, once
            self.token(force=True)
            resp = self._send(method, path, body)
        return resp

    def deliver(self, entry: OutboxEntry) -> None:
        payload = json.loads(entry.payload)
        record = primero_record(payload)
        if entry.kind == "case_new":
            resp = self._call("POST", "/api/v2/cases", {"data": record})
            if resp.status_code in OK or resp.status_code == 409:
                return
        else:
            if entry.kind == "mark_synced":
                data: dict[str, Any] = {"mark_synced": True, "mark_synced_status": "synced"}
            else:
                data = {k: v for k, v in record.items() if k != "id"}
            resp = self._call("PATCH", f"/api/v2/cases/{record['id']}", {"data": data})
            if resp.status_code in OK:
                return
        raise DeliveryFailed(f"Primero answered HTTP {resp.status_code} to {entry.kind}")


# --- webhook -------------------------------------------------------------------------------

webhook_router = APIRouter(tags=["cases"])


def _settings(request: Request) -> CaseSettings:
    return getattr(request.app.state, "case_settings", None) or default_settings()


@webhook_router.post("/hooks/primero")
async def primero_webhook(request: Request) -> dict[str, Any]:
    """Primero's outbound webhook: apply its workflow/status to the case, queue mark_synced."""
    settings = _settings(request)
    secret = settings.primero_webhook_secret
    if not secret:
        raise HTTPException(404, "the Primero webhook is not configured")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), secret):
        raise HTTPException(401, "bad webhook credentials", headers={"WWW-Authenticate": "Bearer"})
    try:
        body = json.loads(await request.body())
        data = body["data"]
        case_id = str(data["id"])
    except (ValueError, KeyError, TypeError):
        raise HTTPException(400, 'expected {"data": {"id": ..., ...}}') from None
    target = FROM_PRIMERO.get(str(data.get("workflow", "")))
    if data.get("status") == "closed":
        target = Status.CLOSED

    def work() -> dict[str, Any]:
        with request.app.state.db.session() as session:
            case = session.exec(select(Case).where(Case.external_id == case_id)).first()
            if case is None:
                raise HTTPException(404, "no such case")
            steps = path_to(case.status, target) if target else []
            for step in steps:
                desk.transition(session, case, step, actor="primero", source="primero")
            entry = desk.audit(session, "primero", "webhook", case=case, steps=len(steps))
            if "primero" in settings.enabled():
                desk.queue_outbox(
                    session,
                    "primero",
                    "mark_synced",
                    case,
                    f"{case.ref}:synced:{entry.id}",
                    {
                        "case_id": case.external_id,
                        "case_ref": case.ref,
                        "status": case.status,
                        "vessel": {"name": ""},
                    },
                )
            return {"case": case.ref, "status": case.status, "steps": [s.value for s in steps]}

    try:
        return await run_in_threadpool(work)
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
