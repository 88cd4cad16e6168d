"""Browser sessions: login, session cookies, CSRF, rate limiting, passwords (docs/threat-model.md).

- **Login** with user name and either the user's API token (``flip gateway user add`` prints
  it) or a password the user set at ``/account`` (argon2id hash). Unknown users cost the same
  argon2 work as known ones, and every failure answers the same words.
- **Sessions**: a fresh random id on every login (session fixation: any session the browser
  came with is deleted), stored only as SHA-256; cookie ``HttpOnly``, ``SameSite=Strict``,
  ``Secure`` (and the ``__Host-`` name) when served over https; 8 hours.
- **CSRF**: every state-changing browser request needs the session's token in the form field
  ``csrf`` or header ``X-CSRF-Token`` (synchroniser token), and a cross-site ``Origin`` is
  refused. The login form uses a double-submit cookie, because there is no session yet.
- **Rate limit**: 5 failures per user name or 20 per client address within 15 minutes → 429.
  Failures are rows in ``login_attempts``, so every gateway process sharing the database
  counts them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from shore_gateway.errors import RemoteError
from shore_gateway.models import Role, User, utcnow
from shore_gateway.registry import hash_token
from shore_gateway.web.models import LoginAttempt, UserPassword, WebSession

SESSION_TTL = dt.timedelta(hours=8)
WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_CLIENT = 20
MIN_PASSWORD = 12
LOGIN_CSRF_COOKIE = "flip_login_csrf"
STAFF = frozenset({Role.STAFF, Role.ADMIN})

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginRefused(RemoteError):
    """Wrong name or secret (one message for both: no user enumeration)."""


class TooManyAttempts(RemoteError):
    """The rate limit for this name or client is reached."""


@dataclass(frozen=True, slots=True)
class WebUser:
    """The logged-in user of a browser request, with the session's CSRF token."""

    user: User
    csrf: str
    session_id: int

    @property
    def staff(self) -> bool:
        return self.user.role in STAFF


def cookie_name(request: Request) -> str:
    return "__Host-flip_session" if _https(request) else "flip_session"


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _sid_hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


def client_key(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]


# --- passwords ---------------------------------------------------------------------------


def set_password(session: Session, user: User, password: str) -> None:
    """Store an argon2id hash of ``password``. Raises ValueError when it is too short."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    row = session.get(UserPassword, user.id) or UserPassword(user_id=user.id or 0, argon2="")
    row.argon2 = _hasher.hash(password)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()


def check_secret(session: Session, user: User | None, secret: str) -> bool:
    """True when ``secret`` is the user's API token or password (constant work either way)."""
    stored = session.get(UserPassword, user.id) if user is not None else None
    password_ok: bool = False
    with contextlib.suppress(VerificationError, InvalidHashError):
        password_ok = _hasher.verify(stored.argon2 if stored else _DUMMY_HASH, secret)
    if user is None or user.disabled_at is not None:
        return False
    token_ok = hmac.compare_digest(hash_token(secret), user.token_sha256)
    return token_ok or (password_ok and stored is not None)


# --- login / logout ----------------------------------------------------------------------


def login(session: Session, request: Request, response: Response, name: str, secret: str) -> User:
    """Check the rate limit and the secret, then start a *new* session (cookie on response).

    Raises:
        TooManyAttempts: too many recent failures for the name or client.
        LoginRefused: wrong name or secret.
    """
    now = utcnow()
    name = name.strip()[:120]
    client = client_key(request)
    since = now - WINDOW
    by_name = session.exec(
        select(func.count()).where(LoginAttempt.name == name, col(LoginAttempt.time) >= since)
    ).one()
    by_client = session.exec(
        select(func.count()).where(LoginAttempt.client == client, col(LoginAttempt.time) >= since)
    ).one()
    if by_name >= MAX_FAILURES_PER_NAME or by_client >= MAX_FAILURES_PER_CLIENT:
        raise TooManyAttempts("too many failed logins; wait 15 minutes")
    user = session.exec(select(User).where(User.name == name)).first()
    if not check_secret(session, user, secret) or user is None:
        session.add(LoginAttempt(name=name, client=client, time=now))
        session.commit()  # the failure must count even though the caller's block unwinds
        raise LoginRefused("wrong user name or secret")
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.name) == name))
    end_session(session, request)  # fixation: never keep a session id from before login
    sid = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            sid_sha256=_sid_hash(sid),
            user_id=user.id or 0,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    session.flush()
    response.set_cookie(
        cookie_name(request),
        sid,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return user


def end_session(session: Session, request: Request, response: Response | None = None) -> None:
    """Delete the browser's session (if any) and clear its cookie."""
    sid = request.cookies.get(cookie_name(request))
    if sid:
        session.exec(delete(WebSession).where(col(WebSession.sid_sha256) == _sid_hash(sid)))
    if response is not None:
        response.delete_cookie(cookie_name(request), path="/", secure=_https(request))


def current(request: Request) -> WebUser | None:
    """The logged-in user of this request, or None (expired sessions are deleted)."""
    sid = request.cookies.get(cookie_name(request))
    if not sid:
        return None
    with request.app.state.db.session() as session:
        ws = session.exec(select(WebSession).where(WebSession.sid_sha256 == _sid_hash(sid))).first()
        if ws is None:
            return None
        if ws.expires_at < utcnow():
            session.delete(ws)
            return None
        user = session.get(User, ws.user_id)
        if user is None or user.disabled_at is not None:
            return None
        return WebUser(user=user, csrf=ws.csrf, session_id=ws.id or 0)


# --- dependencies --------------------------------------------------------------------------


class LoginRequired(HTTPException):
    """Not logged in: browsers are sent to the login page (303)."""

    def __init__(self) -> None:
        super().__init__(303, "log in first", headers={"Location": "/login"})


def _web_user(request: Request) -> WebUser:
    user = current(request)
    if user is None:
        raise LoginRequired
    return user


def _web_staff(request: Request) -> WebUser:
    user = _web_user(request)
    if not user.staff:
        raise HTTPException(403, "staff only")
    from shore_gateway.cases.views import alarm

    with request.app.state.db.session() as session:  # every staff page flags these
        request.state.alarm = alarm(session)
    return user


async def check_csrf(request: Request, user: WebUser) -> None:
    """Refuse a state-changing request without the session's CSRF token (403)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != _origin_of(request):
        raise HTTPException(403, "cross-site request refused")
    token = request.headers.get("x-csrf-token")
    if token is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf")
            token = value if isinstance(value, str) else None
    if not token or not hmac.compare_digest(token, user.csrf):
        raise HTTPException(403, "missing or wrong CSRF token")


def _origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


async def _csrf_staff(request: Request) -> WebUser:
    user = _web_staff(request)
    await check_csrf(request, user)
    return user


async def _csrf_user(request: Request) -> WebUser:
    user = _web_user(request)
    await check_csrf(request, user)
    return user


WebAny = Annotated[WebUser, Depends(_web_user)]
WebStaff = Annotated[WebUser, Depends(_web_staff)]
#: Staff, for a state-changing request (CSRF checked).
StaffPost = Annotated[WebUser, Depends(_csrf_staff)]
#: Any user, for a state-changing request (CSRF checked).
UserPost = Annotated[WebUser, Depends(_csrf_user)]
