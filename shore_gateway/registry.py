"""Device registry and users.

Vessels are registered with the Ed25519 public key of their device; a frame names its key by
``kid`` = SHA-256(raw public key)[:4] (:func:`protocol.keys.key_id`). Several keys may share a
kid (4 bytes collide rarely, not never), so :func:`candidate_keys` returns every live key under
it and the verifier tries each. Rotation adds a key; revocation stamps ``revoked_at`` — frames
are then refused for that key, but the history it signed stays.

Users call the HTTP API with a random bearer token shown once at creation; only its SHA-256 is
stored, so a leaked database does not leak working tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from protocol.errors import LocalProtocolError
from protocol.keys import key_id, load_verify_key, raw_public
from shore_gateway.bulk import one_of
from shore_gateway.errors import RemoteError
from shore_gateway.models import ROLES, Alert, AlertKind, DeviceKey, User, Vessel, utcnow


class RegistryError(RemoteError):
    """A registry request that cannot be done (duplicate name, bad key, unknown vessel…)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VesselIds:
    """Identifiers by which other systems (VMS, AIS, GDST) name a vessel."""

    imei: str | None = None
    owner: str | None = None
    ircs: str | None = None
    imo: str | None = None
    mmsi: str | None = None
    registry_no: str | None = None
    flag: str | None = None


def normalise_imo(value: str | None) -> str | None:
    """``IMO 9074729`` / ``IMO9074729`` / ``9074729`` → ``9074729`` (digits only); None stays."""
    if value is None:
        return None
    digits = "".join(ch for ch in value if ch in "0123456789")
    return digits or None


def add_vessel(session: Session, name: str, sign_pub_pem: bytes, ids: VesselIds) -> Vessel:
    """Register a vessel and its device's public key. Raises :class:`RegistryError`."""
    name = name.strip()
    if not name:
        raise RegistryError("vessel name must not be empty")
    raw = _raw_key(sign_pub_pem)
    if session.exec(select(Vessel).where(Vessel.name == name)).first() is not None:
        raise RegistryError(f"vessel {name!r} is already registered")
    if _live_key(session, raw) is not None:
        raise RegistryError("that public key is already registered to a vessel")
    if ids.flag is not None and not (len(ids.flag) == 3 and ids.flag.isalpha()):
        raise RegistryError(f"flag must be an ISO 3166 alpha-3 code, got {ids.flag!r}")
    vessel = Vessel(
        name=name,
        imei=ids.imei,
        owner=ids.owner,
        ircs=ids.ircs.upper() if ids.ircs else None,
        imo=normalise_imo(ids.imo),
        mmsi=ids.mmsi,
        registry_no=ids.registry_no,
        flag=ids.flag.upper() if ids.flag else None,
    )
    session.add(vessel)
    try:
        session.flush()
        session.add(DeviceKey(vessel_id=_id(vessel), kid=key_id(raw), public_key=raw))
        session.flush()
    except IntegrityError as exc:
        raise RegistryError(f"vessel {name!r} or its key is already registered") from exc
    return vessel


def rotate_key(
    session: Session,
    vessel_name: str,
    sign_pub_pem: bytes,
    *,
    revoke_old: bool = False,
    now: dt.datetime | None = None,
) -> DeviceKey:
    """Add a new device key to a vessel; optionally revoke the ones it had.

    The vessel's messages stay keyed by (vessel, seq): the new key must continue the seq
    numbers and hash chain of the old one (docs/operations.md). Raises :class:`RegistryError`.
    """
    vessel = get_vessel(session, vessel_name)
    raw = _raw_key(sign_pub_pem)
    taken = _live_key(session, raw)
    if taken is not None:
        owner = session.get(Vessel, taken.vessel_id)
        raise RegistryError(
            f"that public key is already registered (vessel {owner.name if owner else '?'!r}, "
            f"key id {taken.kid.hex()})"
        )
    if revoke_old:
        revoke_vessel_keys(session, vessel.name, now=now)
    key = DeviceKey(vessel_id=_id(vessel), kid=key_id(raw), public_key=raw)
    session.add(key)
    session.flush()
    return key


def revoke_key(session: Session, kid: bytes, *, now: dt.datetime | None = None) -> int:
    """Revoke every live key with this kid; returns how many were revoked."""
    keys = session.exec(
        select(DeviceKey).where(DeviceKey.kid == kid, col(DeviceKey.revoked_at).is_(None))
    ).all()
    return len(_revoke(session, keys, now))


def revoke_kid(
    session: Session, kid: bytes, *, vessel_name: str | None = None, now: dt.datetime | None = None
) -> tuple[Vessel, list[DeviceKey]]:
    """Revoke the live key(s) with this kid of one vessel; the vessel and what was revoked.

    Unlike :func:`revoke_key` this refuses what an operator cannot have meant: a kid no key
    has (of that vessel), one whose keys are all revoked already, or one that live keys of
    several vessels share (4-byte kids may collide; name the vessel then).

    Raises:
        RegistryError: unknown vessel or kid, nothing live under it, or an ambiguous kid.
    """
    stmt = select(DeviceKey, Vessel).join(Vessel).where(DeviceKey.kid == kid)
    if vessel_name is not None:
        stmt = stmt.where(Vessel.id == _id(get_vessel(session, vessel_name)))
    rows = session.exec(stmt.order_by(col(DeviceKey.id))).all()
    of = f" of vessel {vessel_name!r}" if vessel_name is not None else ""
    if not rows:
        raise RegistryError(f"no device key with key id {kid.hex()}{of}")
    live = [(key, vessel) for key, vessel in rows if key.revoked_at is None]
    if not live:
        raise RegistryError(f"device key {kid.hex()}{of} is already revoked")
    vessels = sorted({vessel.name for _, vessel in live})
    if len(vessels) > 1:
        raise RegistryError(
            f"key id {kid.hex()} is shared by live keys of vessels {', '.join(vessels)}: "
            "name the vessel"
        )
    return live[0][1], _revoke(session, [key for key, _ in live], now)


def revoke_vessel_keys(
    session: Session, vessel_name: str, *, now: dt.datetime | None = None
) -> list[DeviceKey]:
    """Revoke every live key of a vessel (box lost or stolen); returns the keys revoked.

    Raises :class:`RegistryError` for an unknown vessel.
    """
    vessel = get_vessel(session, vessel_name)
    return _revoke(session, live_keys(session, _id(vessel)), now)


def _revoke(
    session: Session, keys: Iterable[DeviceKey], now: dt.datetime | None
) -> list[DeviceKey]:
    stamp = now or utcnow()
    done = []
    for key in keys:
        key.revoked_at = stamp
        session.add(key)
        done.append(key)
    # An operator acted on the vessel's keys: a seq collision alert (which holds its acks) is
    # closed; if the colliding box still sends under a live key, the next frame opens a new one.
    if done:
        session.execute(
            update(Alert)
            .where(
                col(Alert.vessel_id).in_({k.vessel_id for k in done}),
                col(Alert.kind) == AlertKind.COLLISION,
                col(Alert.resolved_at).is_(None),
            )
            .values(resolved_at=stamp)
        )
    session.flush()
    return done


def live_keys(session: Session, vessel_id: int) -> list[DeviceKey]:
    """A vessel's keys not revoked, oldest first."""
    return list(
        session.exec(
            select(DeviceKey)
            .where(DeviceKey.vessel_id == vessel_id, col(DeviceKey.revoked_at).is_(None))
            .order_by(col(DeviceKey.id))
        ).all()
    )


def vessel_keys(session: Session, vessel_name: str) -> list[DeviceKey]:
    """Every device key a vessel has had, live or revoked, oldest first.

    Raises :class:`RegistryError` for an unknown vessel.
    """
    vessel = get_vessel(session, vessel_name)
    return list(
        session.exec(
            select(DeviceKey)
            .where(DeviceKey.vessel_id == _id(vessel))
            .order_by(col(DeviceKey.created_at), col(DeviceKey.id))
        ).all()
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A live device key that may have signed a frame, with its vessel's id and name."""

    key_id: int
    public_key: bytes
    vessel_id: int
    vessel_name: str


_KEYS: Any = DeviceKey.__table__  # type: ignore[attr-defined]
_VESSELS: Any = Vessel.__table__  # type: ignore[attr-defined]
# Built once: constructing and coercing the statement cost more than running it per batch.
_CANDIDATES = (
    core_select(_KEYS.c.kid, _KEYS.c.id, _KEYS.c.public_key, _VESSELS.c.id, _VESSELS.c.name)
    .join_from(_KEYS, _VESSELS, _KEYS.c.vessel_id == _VESSELS.c.id)
    .where(one_of(_KEYS.c.kid, "kids"), _KEYS.c.revoked_at.is_(None))
)


def candidate_keys(session: Session, kids: Iterable[bytes]) -> dict[bytes, list[Candidate]]:
    """Every live key registered under each kid (one query for a batch of arrivals), by kid."""
    out: dict[bytes, list[Candidate]] = {kid: [] for kid in kids}
    if out:
        rows = session.connection().execute(_CANDIDATES, {"kids": list(out)})
        for kid, key_id, public_key, vessel_id, name in rows:
            out[kid].append(Candidate(key_id, public_key, vessel_id, name))
    return out


def set_link(
    session: Session, vessel_name: str, *, imei: str | None = None, mt_url: str | None = None
) -> tuple[Vessel, dict[str, tuple[str | None, str | None]]]:
    """Move a vessel to another modem: its new IMEI and downlink route (``""`` clears the route:
    the gateway-wide default). The device key, seqs, chain, cases and history stay — the same
    agent directory sends on through the new modem (wire format §1.1: a queue moves between SBD,
    IMT and broadband as it is). Returns the vessel and ``{field: (old, new)}`` for what changed.

    Raises:
        RegistryError: unknown vessel, an IMEI that is not 15 digits, or nothing to change.
    """
    vessel = get_vessel(session, vessel_name)
    if imei is None and mt_url is None:
        raise RegistryError("nothing to change: give --imei, --mt-url or both")
    changed: dict[str, tuple[str | None, str | None]] = {}
    if imei is not None:
        imei = imei.strip()
        if not (imei.isdigit() and len(imei) == 15):
            raise RegistryError("an IMEI is 15 digits")
        if imei != vessel.imei:
            changed["imei"] = (vessel.imei, imei)
            vessel.imei = imei
    if mt_url is not None:
        route = mt_url.strip() or None
        if route != vessel.mt_url:
            changed["mt_url"] = (vessel.mt_url, route)
            vessel.mt_url = route
    session.add(vessel)
    session.flush()
    return vessel, changed


def get_vessel(session: Session, name: str) -> Vessel:
    vessel = session.exec(select(Vessel).where(Vessel.name == name)).first()
    if vessel is None:
        raise RegistryError(f"no vessel named {name!r}")
    return vessel


def find_vessel(
    session: Session,
    *,
    ircs: str | None = None,
    registry_no: str | None = None,
    imo: str | None = None,
    mmsi: str | None = None,
    name: str | None = None,
    imei: str | None = None,
) -> Vessel | None:
    """The vessel matching the most specific identifier given (IMO, MMSI, IRCS, registry, name).

    Identifiers are tried in order of how unique they are in the real world; the first one that
    finds exactly one vessel wins. Returns None when nothing (or nothing unambiguous) matches.
    """
    tries: list[Any] = []
    if imo and (digits := normalise_imo(imo)):
        tries.append(Vessel.imo == digits)
    if mmsi:
        tries.append(Vessel.mmsi == mmsi.strip())
    if ircs:
        tries.append(Vessel.ircs == ircs.strip().upper())
    if registry_no:
        tries.append(Vessel.registry_no == registry_no.strip())
    if imei:
        tries.append(Vessel.imei == imei.strip())
    if name:
        tries.append(Vessel.name == name.strip())
    for cond in tries:
        rows = session.exec(select(Vessel).where(cond).limit(2)).all()
        if len(rows) == 1:
            return rows[0]
    return None


def vessels_for(session: Session, user: User) -> list[Vessel]:
    """The vessels a user may see: staff/admin all, owners and buyers only their owner's."""
    stmt = select(Vessel).order_by(col(Vessel.name))
    if user.role not in ("staff", "admin"):
        stmt = stmt.where(Vessel.owner == user.owner, col(Vessel.owner).is_not(None))
    return list(session.exec(stmt).all())


# --- users ---------------------------------------------------------------------------------


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def add_user(
    session: Session,
    name: str,
    role: str,
    *,
    owner: str | None = None,
    token_factory: Callable[[], str] = lambda: secrets.token_urlsafe(32),
) -> tuple[User, str]:
    """Create a user; returns it and its bearer token (shown once, stored only as a hash)."""
    name = name.strip()
    if not name:
        raise RegistryError("user name must not be empty")
    if role not in ROLES:
        raise RegistryError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if role in ("owner", "buyer") and not owner:
        raise RegistryError(f"a {role} user needs --owner (the owner whose vessels they see)")
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise RegistryError(f"user {name!r} already exists")
    token = token_factory()
    user = User(name=name, role=role, owner=owner, token_sha256=hash_token(token))
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise RegistryError(f"user {name!r} already exists") from exc
    return user, token


def user_for_token(session: Session, token: str) -> User | None:
    return session.exec(
        select(User).where(User.token_sha256 == hash_token(token), col(User.disabled_at).is_(None))
    ).first()


def require(*roles: str) -> Callable[..., User]:
    """A FastAPI dependency: the calling user, who must hold one of ``roles``.

    401 without a valid bearer token, 403 with one whose role is not allowed.
    """
    allowed = frozenset(roles)

    def dependency(request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        db = request.app.state.db
        with db.session() as session:
            user = user_for_token(session, token.strip())
        if user is None:
            raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
        if user.role not in allowed:
            raise HTTPException(403, f"role {user.role!r} may not do this")
        return user

    return dependency


Staff = Annotated[User, Depends(require("staff", "admin"))]
AnyUser = Annotated[User, Depends(require(*ROLES))]


def _live_key(session: Session, raw: bytes) -> DeviceKey | None:
    """The live registration of a public key (a revoked one may be registered again)."""
    return session.exec(
        select(DeviceKey).where(DeviceKey.public_key == raw, col(DeviceKey.revoked_at).is_(None))
    ).first()


def _raw_key(pem: bytes) -> bytes:
    try:
        return raw_public(load_verify_key(pem))
    except LocalProtocolError as exc:
        raise RegistryError(f"device public key: {exc}") from exc


def _id(row: Any) -> int:
    if row.id is None:  # pragma: no cover - flush always assigns one
        raise RegistryError("row has no id after flush")
    return int(row.id)
