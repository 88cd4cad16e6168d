"""``flip gateway vessel …`` — the vessel registry: vessels, their modems and device keys
(CONTRACTS.md; docs/operations.md says when to use which)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flip.output import CommandError, emit
from shore_gateway.clidb import db_option as _db
from shore_gateway.clidb import open_db as _open_db


def register_vessel(gsub: Any) -> None:
    vessel = gsub.add_parser("vessel", help="vessel registry")
    vsub = vessel.add_subparsers(dest="vessel_command", metavar="ACTION", required=True)
    add = vsub.add_parser("add", help="register a vessel and its device's public key")
    _db(add)
    add.add_argument("--name", required=True)
    add.add_argument("--imei", required=True)
    add.add_argument("--sign-pub", required=True, type=Path, help="device Ed25519 public key PEM")
    add.add_argument("--owner")
    add.add_argument("--ircs", help="international radio call sign (NAF RC)")
    add.add_argument("--imo", help="IMO number (NAF XR)")
    add.add_argument("--mmsi", help="AIS MMSI")
    add.add_argument("--registry-no", help="internal registry number (NAF IR)")
    add.add_argument("--flag", help="flag state, ISO 3166 alpha-3")
    add.add_argument("--mt-url", help=ROUTE_HELP)
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_vessel_add)
    link = vsub.add_parser(
        "set-link",
        help="move a vessel to another modem (new IMEI, downlink route)",
        description="Give a registered vessel its new modem's IMEI and downlink route — a box "
        "moved from an SBD modem to a RockBLOCK 9704, or the reverse. The device key, seqs, "
        "cases and history stay: the same agent directory sends on through the new modem.",
    )
    _db(link)
    link.add_argument("--name", required=True, help="the registered vessel")
    link.add_argument("--imei", help="the new modem's IMEI (15 digits)")
    link.add_argument("--mt-url", help=f"{ROUTE_HELP}; '' for the gateway-wide default")
    link.add_argument("--json", action="store_true")
    link.set_defaults(func=cmd_vessel_set_link)
    _register_keys(vsub)


ROUTE_HELP = "downlink route: directip://HOST:PORT, mqtt or cloudloop://THING (a 9704)"


def _register_keys(vsub: Any) -> None:
    """``vessel rotate-key | revoke-key | keys``: a vessel's device keys over time."""
    rotate = vsub.add_parser(
        "rotate-key",
        help="add a device key to a vessel (the same agent signing with a new key)",
        description="Add a device public key to a registered vessel, optionally revoking the "
        "keys it had. The new key continues the vessel's seq numbers: a replacement box whose "
        "seqs start again at 1 is registered with `vessel add` instead (docs/operations.md).",
    )
    _db(rotate)
    rotate.add_argument("--name", required=True, help="the registered vessel")
    rotate.add_argument("--sign-pub", required=True, type=Path, help="new Ed25519 public key PEM")
    rotate.add_argument(
        "--revoke-old", action="store_true", help="revoke the vessel's other keys at once"
    )
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(func=cmd_vessel_rotate_key)

    revoke = vsub.add_parser(
        "revoke-key",
        help="revoke a device key: its frames are refused from now on",
        description="Revoke one device key by its key id, or every live key of a vessel. "
        "Frames signed by a revoked key are refused (UnknownDevice); what it signed before stays.",
    )
    _db(revoke)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--kid", help="key id, 8 hex digits (as `vessel add` / `vessel keys` print)")
    which.add_argument("--all", action="store_true", help="every live key of --name")
    revoke.add_argument("--name", help="the vessel (required with --all; narrows --kid)")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(func=cmd_vessel_revoke_key)

    vkeys = vsub.add_parser("keys", help="list a vessel's device keys, live and revoked")
    _db(vkeys)
    vkeys.add_argument("--name", required=True)
    vkeys.add_argument("--json", action="store_true")
    vkeys.set_defaults(func=cmd_vessel_keys)


def cmd_vessel_add(args: argparse.Namespace) -> int:
    from shore_gateway.registry import RegistryError, VesselIds, add_vessel

    pem = _read_pub(args.sign_pub)
    if not (args.imei.isdigit() and len(args.imei) == 15):
        raise CommandError("--imei must be 15 digits")
    _check_route(args.mt_url)
    db = _open_db(args.db)
    ids = VesselIds(
        imei=args.imei,
        owner=args.owner,
        ircs=args.ircs,
        imo=args.imo,
        mmsi=args.mmsi,
        registry_no=args.registry_no,
        flag=args.flag,
    )
    try:
        with db.session() as session:
            vessel = add_vessel(session, args.name, pem, ids)
            if args.mt_url:
                vessel.mt_url = args.mt_url
                session.add(vessel)
            from shore_gateway.registry import live_keys

            assert vessel.id is not None
            kid = live_keys(session, vessel.id)[0].kid.hex()
            result = {
                "name": vessel.name,
                "imei": vessel.imei,
                "kid": kid,
                "owner": vessel.owner,
                "mt_url": vessel.mt_url,
            }
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    emit(args, result, lambda r: f"vessel {r['name']} registered (key id {r['kid']})")
    return 0


def _check_route(url: str | None) -> None:
    if url:
        from shore_gateway.downlink import RouteError, parse_route

        try:
            parse_route(url)
        except RouteError as exc:
            raise CommandError(str(exc)) from None


def cmd_vessel_set_link(args: argparse.Namespace) -> int:
    from shore_gateway.registry import RegistryError, set_link

    _check_route(args.mt_url)
    db = _open_db(args.db)
    try:
        with db.session() as session:
            vessel, changed = set_link(session, args.name, imei=args.imei, mt_url=args.mt_url)
            result = {
                "vessel": vessel.name,
                "imei": vessel.imei,
                "mt_url": vessel.mt_url,
                "changed": {k: {"from": old, "to": new} for k, (old, new) in changed.items()},
            }
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    emit(args, result, _link_words)
    return 0


def _link_words(r: Any) -> str:
    if not r["changed"]:
        return (
            f"vessel {r['vessel']}: already on IMEI {r['imei']}, route {r['mt_url'] or 'default'}"
        )
    moves = ", ".join(
        f"{k} {c['from'] or 'default'} → {c['to'] or 'default'}" for k, c in r["changed"].items()
    )
    return f"vessel {r['vessel']}: {moves}"


def cmd_vessel_rotate_key(args: argparse.Namespace) -> int:
    from shore_gateway.registry import RegistryError, get_vessel, live_keys, rotate_key

    pem = _read_pub(args.sign_pub)
    db = _open_db(args.db)
    try:
        with db.session() as session:
            # One transaction: a refused key revokes nothing.
            vessel = get_vessel(session, args.name)
            assert vessel.id is not None
            revoked = live_keys(session, vessel.id) if args.revoke_old else []
            key = rotate_key(session, args.name, pem, revoke_old=args.revoke_old)
            result = {
                "vessel": args.name,
                "kid": key.kid.hex(),
                "revoked": [k.kid.hex() for k in revoked],
                "live": _live_kids(session, args.name),
            }
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    emit(args, result, _rotated_words)
    return 0


def cmd_vessel_revoke_key(args: argparse.Namespace) -> int:
    from shore_gateway.registry import RegistryError, revoke_kid, revoke_vessel_keys

    if args.all and not args.name:
        raise CommandError("--all needs --name (the vessel whose keys to revoke)")
    kid = _parse_kid(args.kid) if args.kid is not None else None
    db = _open_db(args.db)
    try:
        with db.session() as session:
            if kid is not None:
                vessel, revoked = revoke_kid(session, kid, vessel_name=args.name)
                name = vessel.name
            else:
                name = args.name
                revoked = revoke_vessel_keys(session, name)
                if not revoked:
                    raise CommandError(f"vessel {name!r} has no live key to revoke")
            result = {
                "vessel": name,
                "revoked": [k.kid.hex() for k in revoked],
                "live": _live_kids(session, name),
            }
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    emit(args, result, _revoked_words)
    return 0


def cmd_vessel_keys(args: argparse.Namespace) -> int:
    from shore_gateway.registry import RegistryError, vessel_keys

    db = _open_db(args.db)
    try:
        with db.session() as session:
            keys = vessel_keys(session, args.name)
            rows = [
                {
                    "kid": k.kid.hex(),
                    "public_key": k.public_key.hex(),
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    "live": k.revoked_at is None,
                }
                for k in keys
            ]
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    emit(args, {"vessel": args.name, "keys": rows}, _keys_table)
    return 0


def _rotated_words(r: Any) -> str:
    revoked = f"; revoked {', '.join(r['revoked'])}" if r["revoked"] else ""
    return f"vessel {r['vessel']}: key {r['kid']} added{revoked}; live keys {', '.join(r['live'])}"


def _revoked_words(r: Any) -> str:
    left = f"live keys {', '.join(r['live'])}" if r["live"] else "no live key left (all refused)"
    return f"vessel {r['vessel']}: revoked {', '.join(r['revoked'])}; {left}"


def _keys_table(r: Any) -> str:
    lines = [f"vessel {r['vessel']}: {len(r['keys'])} device key(s)"]
    for k in r["keys"]:
        state = "live" if k["live"] else f"revoked {k['revoked_at']}"
        lines.append(f"  {k['kid']}  created {k['created_at']}  {state}")
    return "\n".join(lines)


def _live_kids(session: Any, vessel_name: str) -> list[str]:
    from shore_gateway.registry import get_vessel, live_keys

    vessel = get_vessel(session, vessel_name)
    assert vessel.id is not None
    return [k.kid.hex() for k in live_keys(session, vessel.id)]


def _parse_kid(text: str) -> bytes:
    """``--kid``: the 4-byte key id as 8 hex digits (``vessel add`` prints it so)."""
    try:
        kid = bytes.fromhex(text.strip())
    except ValueError:
        kid = b""
    if len(kid) != 4:
        raise CommandError(f"--kid must be 8 hex digits (a key id), got {text!r}")
    return kid


def _read_pub(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read --sign-pub: {exc.strerror}: {path}") from None
