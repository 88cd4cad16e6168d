"""``flip gateway …`` — serve the gateway, register vessels, their device keys and users
(CONTRACTS.md).

Every subcommand takes ``--json``; ``serve`` prints one JSON line when it is ready and runs until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from flip.output import CommandError, emit

DEFAULT_DB = "sqlite:///flip-gateway.sqlite3"


def register(sub: Any) -> None:
    parser = sub.add_parser("gateway", help="shore gateway: serve, vessels, users")
    gsub = parser.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND", required=True)

    from shore_gateway.cases.help import HELP as CASES_HELP

    serve = gsub.add_parser(
        "serve",
        help="run the gateway (HTTP API, ingest)",
        epilog=CASES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _db(serve)
    serve.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT (port 0: any free)")
    serve.add_argument("--directip", default="127.0.0.1:10800", help="DirectIP MO HOST:PORT")
    serve.add_argument("--keys", type=Path, help="directory from `flip keys new --role shore`")
    serve.add_argument(
        "--mqtt",
        help="MQTT broker URL (mqtt://host:1883): ingest from {prefix}/mo/+ and publish new "
        "cases on {prefix}/cases/new (FLIP_CASES_CONNECTORS can narrow that)",
    )
    serve.add_argument(
        "--mt", help="default DirectIP MT endpoint HOST:PORT for downlink (vessels may override)"
    )
    serve.add_argument(
        "--no-decrypt",
        action="store_true",
        help="verify, store and ack only; crew messages are opened by `gateway decrypt-worker`",
    )
    serve.add_argument("--no-directip", action="store_true", help="do not listen for DirectIP")
    serve.add_argument("--no-downlink", action="store_true", help="do not run the MT sender")
    serve.add_argument("--mqtt-client-id", help="stable MQTT client id of this instance")
    serve.add_argument(
        "--mqtt-group",
        default="flip-gateway",
        help="shared subscription group ('': a plain subscription, for a single gateway)",
    )
    serve.add_argument("--mqtt-prefix", default="flip/v1", help="MQTT topic prefix")
    serve.add_argument("--json", action="store_true", help="print one JSON line when ready")
    serve.set_defaults(func=cmd_serve)

    worker = gsub.add_parser("decrypt-worker", help="open sealed crew messages (split deployment)")
    _db(worker)
    worker.add_argument("--keys", required=True, type=Path, help="shore keys directory")
    worker.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    worker.add_argument("--once", action="store_true", help="one pass, then exit")
    worker.add_argument("--json", action="store_true")
    worker.set_defaults(func=cmd_decrypt_worker)

    _register_vessel(gsub)

    user = gsub.add_parser("user", help="API users")
    usub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    uadd = usub.add_parser("add", help="create a user and print its bearer token (shown once)")
    _db(uadd)
    uadd.add_argument("--name", required=True)
    uadd.add_argument("--role", required=True, choices=["staff", "owner", "admin", "buyer"])
    uadd.add_argument("--owner", help="for owner/buyer users: whose vessels they see")
    uadd.add_argument("--json", action="store_true")
    uadd.set_defaults(func=cmd_user_add)


def _register_vessel(gsub: Any) -> None:
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
    add.add_argument("--mt-url", help="downlink route: directip://HOST:PORT or mqtt")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_vessel_add)
    _register_keys(vsub)


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

    pem = _read_pub(args.sign_pub)
    if not (args.imei.isdigit() and len(args.imei) == 15):
        raise CommandError("--imei must be 15 digits")
    if args.mt_url:
        from shore_gateway.downlink import RouteError, parse_route

        try:
            parse_route(args.mt_url)
        except RouteError as exc:
            raise CommandError(str(exc)) from None
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
    from pydantic import ValidationError

    from shore_gateway.config import Settings, parse_hostport

    try:
        host, port = parse_hostport(args.http)
        parse_hostport(args.directip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.keys is not None and not args.keys.is_dir():
        raise CommandError(f"--keys {args.keys} is not a directory")
    try:
        settings = Settings(
            db_url=args.db,
            http=args.http,
            directip=args.directip,
            keys_dir=args.keys,
            mqtt_url=args.mqtt,
            mt=args.mt,
            decrypt=not args.no_decrypt,
            directip_enabled=not args.no_directip,
            downlink_enabled=not args.no_downlink,
            mqtt_client_id=args.mqtt_client_id,
            mqtt_group=args.mqtt_group,
            mqtt_prefix=args.mqtt_prefix,
        )
    except ValidationError as exc:
        raise CommandError(f"bad option: {exc.errors()[0]['msg']}") from None
    db = _open_db(args.db)
    try:
        return asyncio.run(_serve(args, settings, db, host, port))
    finally:
        db.dispose()


async def _serve(args: argparse.Namespace, settings: Any, db: Any, host: str, port: int) -> int:
    import uvicorn

    from flip.keyfiles import KeyFileError
    from shore_gateway.app import create_app
    from shore_gateway.cases.config import for_gateway
    from shore_gateway.cases.service import lifespan as cases_lifespan
    from shore_gateway.ingest.service import ServiceError, Services, load_sign_key

    try:
        case_settings = for_gateway(settings.mqtt_url)  # --mqtt publishes cases (CONTRACTS.md)
        app = create_app(settings, db=db, migrate=False)
        app.state.case_settings = case_settings
        has_keys = settings.keys_dir is not None and any(settings.keys_dir.glob("*.pem"))
        sign_key = load_sign_key(settings.keys_dir) if has_keys else None
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    http_socket = _listen(host, port)  # a port in use is one clear line, before anything starts
    if not has_keys:
        print(
            "warning: no shore keys: frames are stored raw (pending), nothing is verified "
            "or acknowledged until the gateway runs with --keys",
            file=sys.stderr,
        )
    services = Services(settings, db, app.state.sink, app.state.metrics, sign_key=sign_key)
    app.state.services = services
    # uvicorn runs with lifespan="off" (the services start first, so that a bad listener is a
    # clear error), so the case desk's connectors and outbox dispatcher start here.
    cases = contextlib.AsyncExitStack()
    try:
        listening = await services.start()
        await cases.enter_async_context(cases_lifespan(app))
    except (ServiceError, ValueError) as exc:  # ValueError: a case connector misconfigured
        http_socket.close()
        await cases.aclose()
        await services.stop()
        raise CommandError(str(exc)) from None
    server = _quiet_server_class()(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(server.serve(sockets=[http_socket]))
    try:
        while not server.started:
            if task.done():
                await task
                raise CommandError(f"could not listen on {args.http}")
            await asyncio.sleep(0.02)
        bound = server.servers[0].sockets[0].getsockname()
        ready = {
            "http": f"http://{bound[0]}:{bound[1]}",
            "directip": listening.get("directip"),
            "mqtt": listening.get("mqtt"),
            "mt": listening.get("mt"),
            "db": _redact(settings.db_url),
            "sink": type(app.state.sink).__name__,
            "decrypt": bool(getattr(app.state.sink, "seal_keys", None)),
            "cases": list(app.state.case_settings.enabled()),
            "status": "ready",
        }
        emit(
            args,
            ready,
            lambda r: f"gateway ready on {r['http']} (DirectIP {r['directip']}, db {r['db']})",
        )
        await stop.wait()
    finally:
        server.should_exit = True
        await services.stop()
        await task
        await cases.aclose()  # the dispatcher delivers nothing more once ingest has stopped
    return 0


def _listen(host: str, port: int) -> Any:
    """A bound TCP socket for the HTTP server, or :class:`CommandError` (port in use, address
    not on this host) — uvicorn would log two tracebacks and exit with status 3."""
    import socket

    try:
        family, kind, proto, _name, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise CommandError(f"cannot listen on {host}:{port}: {reason.lower()}") from None
    sock.set_inheritable(True)
    return sock


def cmd_decrypt_worker(args: argparse.Namespace) -> int:
    """Open crew messages stored sealed by gateways running with ``--no-decrypt``."""
    import threading

    from flip.keyfiles import KeyFileError, load_shore
    from shore_gateway.pipeline import open_pending

    try:
        shore = load_shore(args.keys)
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    db = _open_db(args.db)
    stop = threading.Event()
    if not args.once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    opened = 0
    try:
        if not args.once:
            emit(
                args,
                {"status": "ready", "db": _redact(args.db)},
                lambda r: f"decrypt worker ready (db {r['db']})",
            )
        while True:
            n = open_pending(db, shore.seals)
            opened += n
            if args.once:
                break
            if n == 0 and stop.wait(args.interval):
                break
            if stop.is_set():
                break
    finally:
        db.dispose()
    if args.once:
        emit(args, {"opened": opened}, lambda r: f"opened {r['opened']} sealed messages")
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
