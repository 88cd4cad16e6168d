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
from shore_gateway.clidb import db_option as _db
from shore_gateway.clidb import open_db as _open_db


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

    from shore_gateway.vessel_cli import register_vessel

    register_vessel(gsub)

    user = gsub.add_parser("user", help="API users")
    usub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    uadd = usub.add_parser("add", help="create a user and print its bearer token (shown once)")
    _db(uadd)
    uadd.add_argument("--name", required=True)
    uadd.add_argument("--role", required=True, choices=["staff", "owner", "admin", "buyer"])
    uadd.add_argument("--owner", help="for owner/buyer users: whose vessels they see")
    uadd.add_argument("--json", action="store_true")
    uadd.set_defaults(func=cmd_user_add)


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
    from shore_gateway.decrypt import open_pending
    from shore_gateway.hooks import default_hooks

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
            n = open_pending(db, shore.seals, hooks=default_hooks())
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
