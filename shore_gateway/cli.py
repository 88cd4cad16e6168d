"""``flip gateway …`` — serve the gateway, register vessels and users (CONTRACTS.md).

Every subcommand takes ``--json``; ``serve`` prints one JSON line when it is ready and runs until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from flip.output import CommandError, emit

DEFAULT_DB = "sqlite:///flip-gateway.sqlite3"


def register(sub: Any) -> None:
    parser = sub.add_parser("gateway", help="shore gateway: serve, vessels, users")
    gsub = parser.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND", required=True)

    serve = gsub.add_parser("serve", help="run the gateway (HTTP API, ingest)")
    _db(serve)
    serve.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT (port 0: any free)")
    serve.add_argument("--directip", default="127.0.0.1:10800", help="DirectIP MO HOST:PORT")
    serve.add_argument("--keys", type=Path, help="directory from `flip keys new --role shore`")
    serve.add_argument("--mqtt", help="MQTT broker URL (mqtt://host:1883)")
    serve.add_argument("--json", action="store_true", help="print one JSON line when ready")
    serve.set_defaults(func=cmd_serve)

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
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_vessel_add)

    user = gsub.add_parser("user", help="API users")
    usub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    uadd = usub.add_parser("add", help="create a user and print its bearer token (shown once)")
    _db(uadd)
    uadd.add_argument("--name", required=True)
    uadd.add_argument("--role", required=True, choices=["staff", "owner", "admin", "buyer"])
    uadd.add_argument("--owner", help="for owner/buyer users: whose vessels they see")
    uadd.add_argument("--json", action="store_true")
    uadd.set_defaults(func=cmd_user_add)


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=DEFAULT_DB, help="SQLAlchemy URL (sqlite:///FILE or postgresql+psycopg://…)"
    )


def _open_db(url: str) -> Any:
    from sqlalchemy.exc import ArgumentError, OperationalError

    from shore_gateway.db import Database

    try:
        db = Database(url)
        db.migrate()
    except ArgumentError as exc:
        raise CommandError(f"bad --db URL: {exc}") from None
    except OperationalError as exc:
        raise CommandError(f"database unreachable: {str(exc.orig).strip()}") from None
    return db


def cmd_vessel_add(args: argparse.Namespace) -> int:
    from shore_gateway.registry import RegistryError, VesselIds, add_vessel

    try:
        pem = args.sign_pub.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read --sign-pub: {exc.strerror}: {args.sign_pub}") from None
    if not (args.imei.isdigit() and len(args.imei) == 15):
        raise CommandError("--imei must be 15 digits")
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
            from shore_gateway.registry import live_keys

            assert vessel.id is not None
            kid = live_keys(session, vessel.id)[0].kid.hex()
            result = {"name": vessel.name, "imei": vessel.imei, "kid": kid, "owner": vessel.owner}
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    emit(args, result, lambda r: f"vessel {r['name']} registered (key id {r['kid']})")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from shore_gateway.registry import RegistryError, add_user

    db = _open_db(args.db)
    try:
        with db.session() as session:
            user, token = add_user(session, args.name, args.role, owner=args.owner)
            result = {"name": user.name, "role": user.role, "owner": user.owner, "token": token}
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    emit(
        args,
        result,
        lambda r: f"user {r['name']} ({r['role']}) created; token (shown once): {r['token']}",
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from shore_gateway.config import Settings, parse_hostport

    try:
        host, port = parse_hostport(args.http)
        parse_hostport(args.directip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.keys is not None and not args.keys.is_dir():
        raise CommandError(f"--keys {args.keys} is not a directory")
    settings = Settings(
        db_url=args.db,
        http=args.http,
        directip=args.directip,
        keys_dir=args.keys,
        mqtt_url=args.mqtt,
    )
    db = _open_db(args.db)
    try:
        return asyncio.run(_serve(args, settings, db, host, port))
    finally:
        db.dispose()


async def _serve(args: argparse.Namespace, settings: Any, db: Any, host: str, port: int) -> int:
    import uvicorn

    from shore_gateway.app import create_app

    app = create_app(settings, db=db, migrate=False)
    _QuietServer = _quiet_server_class()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = _QuietServer(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise CommandError(f"could not listen on {args.http}")
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    # DirectIP MO listener: added by the DirectIP ingest adapter (it binds settings.directip
    # and feeds app.state.sink). Hook: start it here, next to the HTTP server.
    ready = {
        "http": f"http://{bound[0]}:{bound[1]}",
        "directip": settings.directip,
        "db": _redact(settings.db_url),
        "mqtt": settings.mqtt_url,
        "status": "ready",
    }
    emit(args, ready, lambda r: f"gateway ready on {r['http']} (db {r['db']})")
    await stop.wait()
    server.should_exit = True
    await task
    return 0


def _quiet_server_class() -> Any:
    import contextlib
    from collections.abc import Iterator

    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its own signal handling: `flip` stops it on SIGINT/SIGTERM and
        exits 0 (uvicorn would re-raise the signal after shutting down)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
