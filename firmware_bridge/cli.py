"""`flip bridge emulate|probe|send` (CONTRACTS.md, "bridge")."""

from __future__ import annotations

import argparse
from typing import Any

from flip.output import CommandError, emit

DEFAULT_IMEI = "300234010753370"


def register(sub: Any) -> None:
    """Add the ``bridge`` subcommand and its own subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "bridge", help="Iridium modems (SBD 9603, IMT 9704): emulator, probe, one-shot send"
    )
    bsub = p.add_subparsers(dest="bridge_command", metavar="SUBCOMMAND", required=True)

    e = bsub.add_parser(
        "emulate", help="run an emulated Iridium 9602/9603 or RockBLOCK 9704 on a pty"
    )
    e.add_argument(
        "--model",
        choices=("9603", "9704"),
        default="9603",
        help="9603: SBD over AT commands (DirectIP); 9704: IMT over JSPR (webhook)",
    )
    e.add_argument("--imei", default=DEFAULT_IMEI, help="15-digit IMEI the modem reports")
    e.add_argument(
        "--directip",
        metavar="HOST:PORT",
        help="9603: where successful sessions deliver DirectIP MO messages",
    )
    e.add_argument(
        "--webhook",
        metavar="URL",
        help="9704: where MO messages are POSTed as Cloudloop JSON (Lingo)",
    )
    e.add_argument(
        "--api-listen",
        metavar="HOST:PORT",
        help="9704: serve an emulated Cloudloop Data/DoSendImtMessage API here",
    )
    e.add_argument("--api-token", default="emulator-token", help="9704: token the API accepts")
    e.add_argument("--thing", default="", help="9704: Cloudloop Thing id (default thing-IMEI)")
    e.add_argument(
        "--segment-timeout",
        type=float,
        default=0.3,
        metavar="SECONDS",
        help="9704: how long the modem waits for each MO segment",
    )
    e.add_argument(
        "--mt-segment",
        type=int,
        default=1446,
        metavar="BYTES",
        help="9704: MT segment size (1..1446)",
    )
    e.add_argument(
        "--byte-time",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="9704: seconds on air per MO byte (real network: ~0.0012)",
    )
    e.add_argument(
        "--mt-listen",
        metavar="HOST:PORT",
        help="accept DirectIP MT messages here (port 0: any free port)",
    )
    e.add_argument(
        "--link",
        default="always-up",
        metavar="PROFILE",
        help="link model: always-up, no-service, flaky, rough",
    )
    e.add_argument(
        "--latency",
        type=float,
        default=0.05,
        metavar="SECONDS",
        help="base session latency (real links: 5-20 s)",
    )
    e.add_argument("--seed", type=int, default=0, help="seed for random link profiles")
    e.add_argument("--echo-off", action="store_true", help="start with echo off (ATE0)")
    e.add_argument(
        "--write-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="AT+SBDWB/+SBDWT data timeout (the modem's is 60 s)",
    )
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run_emulate)

    pr = bsub.add_parser("probe", help="model, IMEI and signal of a modem")
    pr.add_argument("device", help="serial device or pyserial URL")
    pr.add_argument(
        "--model",
        choices=("9603", "9704"),
        default="9603",
        help="9603: SBD AT commands at 19200; 9704: JSPR at 230400",
    )
    pr.add_argument("--timeout", type=float, default=5.0)
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=run_probe)

    s = bsub.add_parser("send", help="load a file into the MO buffer and run one session")
    s.add_argument("device", help="serial device or pyserial URL")
    s.add_argument(
        "--model",
        choices=("9603", "9704"),
        default="9603",
        help="9603: one SBD session (1..340 B); 9704: one IMT message (1..100000 B)",
    )
    s.add_argument("--topic", type=int, default=244, help="9704: IMT topic (default RAW, 244)")
    s.add_argument("--file", required=True, help="payload, 1..340 bytes (9704: 1..100000)")
    s.add_argument("--timeout", type=float, default=5.0)
    s.add_argument("--session-timeout", type=float, default=90.0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_send)


def run_emulate(args: argparse.Namespace) -> int:
    """Start the emulator, print the ready line, run until SIGINT/SIGTERM."""
    import signal
    import threading

    from firmware_bridge.emulator import Emulator, parse_hostport
    from firmware_bridge.link import profile

    if len(args.imei) != 15 or not args.imei.isdigit():
        raise CommandError(f"--imei must be 15 digits, got {args.imei!r}")
    if args.model == "9704":
        return _run_emulate_9704(args)
    if not args.directip:
        raise CommandError("--directip HOST:PORT is required for --model 9603")
    try:
        directip = parse_hostport(args.directip)
        mt_listen = parse_hostport(args.mt_listen) if args.mt_listen else None
        link = profile(args.link, latency_s=args.latency, seed=args.seed)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emulator = Emulator(
        imei=args.imei,
        directip=directip,
        mt_listen=mt_listen,
        link=link,
        echo=not args.echo_off,
        write_timeout_s=args.write_timeout,
    )
    try:
        emulator.start()
    except OSError as exc:
        raise CommandError(f"cannot start the emulator: {exc}") from exc
    try:
        ready: dict[str, Any] = {"device": emulator.device, "imei": args.imei}
        if emulator.mt_address is not None:
            ready["mt_listen"] = "{}:{}".format(*emulator.mt_address)
        emit(
            args,
            ready,
            lambda r: (
                f"emulated modem {r['imei']} on {r['device']} "
                "(connect with: screen DEVICE 19200); Ctrl-C stops"
            ),
        )
        while not stop.wait(0.5):
            pass
    finally:
        emulator.close()
    return 0


def _run_emulate_9704(args: argparse.Namespace) -> int:
    """``--model 9704``: a RockBLOCK 9704 whose MO go to a Cloudloop-style webhook."""
    import signal
    import threading

    from firmware_bridge.emulator import parse_hostport
    from firmware_bridge.emulator9704 import Emulator9704
    from firmware_bridge.link import profile

    if not args.webhook or not args.webhook.startswith(("http://", "https://")):
        raise CommandError("--webhook http(s)://… is required for --model 9704")
    if not 1 <= args.mt_segment <= 1446:
        raise CommandError("--mt-segment must be 1..1446")
    try:
        api = parse_hostport(args.api_listen) if args.api_listen else None
        link = profile(args.link, latency_s=args.latency, seed=args.seed)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emulator = Emulator9704(
        imei=args.imei,
        webhook=args.webhook,
        api_listen=api,
        api_token=args.api_token,
        thing_id=args.thing,
        link=link,
        segment_timeout_s=args.segment_timeout,
        mt_segment_size=args.mt_segment,
        per_byte_s=max(0.0, args.byte_time),
    )
    try:
        emulator.start()
    except OSError as exc:
        raise CommandError(f"cannot start the emulator: {exc}") from exc
    try:
        ready: dict[str, Any] = {
            "device": emulator.device,
            "imei": args.imei,
            "model": "9704",
            "thing": emulator.thing_id,
        }
        if emulator.api_address is not None:
            ready["api"] = "http://{}:{}/".format(*emulator.api_address)
        emit(
            args,
            ready,
            lambda r: (
                f"emulated RockBLOCK 9704 {r['imei']} on {r['device']} "
                "(JSPR, 230400 baud); Ctrl-C stops"
            ),
        )
        while not stop.wait(0.5):
            pass
    finally:
        emulator.close()
    return 0


def _probe_9704(args: argparse.Namespace) -> int:
    from firmware_bridge.errors import BridgeError
    from firmware_bridge.imt_driver import IMTDriver

    try:
        with IMTDriver.open(args.device, timeout_s=args.timeout) as modem:
            info = modem.begin()
            bars = modem.signal()
    except BridgeError as exc:
        raise CommandError(f"{args.device}: {exc}") from exc
    result = {
        "device": args.device,
        "model": "RockBLOCK 9704",
        "imei": info.imei,
        "signal": bars,
        "api_version": ".".join(map(str, info.api_version)),
        "serial_number": info.serial_number,
        "iccid": info.iccid,
        "topics": [{"id": t.topic_id, "name": t.name} for t in info.topics],
    }
    emit(args, result, lambda r: f"{r['model']} IMEI {r['imei']}, signal {r['signal']}/5")
    return 0


def _send_9704(args: argparse.Namespace, data: bytes) -> int:
    from firmware_bridge.errors import BridgeError, TransferFailed
    from firmware_bridge.imt_driver import IMTDriver

    if not 1 <= len(data) <= 100_000:
        raise CommandError(f"{args.file} has {len(data)} bytes; one IMT message holds 1..100000")
    try:
        with IMTDriver.open(args.device, timeout_s=args.timeout) as modem:
            modem.begin()
            sent = modem.send(data, topic=args.topic, timeout_s=args.session_timeout)
    except TransferFailed as exc:
        raise CommandError(f"message not sent: {exc.status}") from exc
    except BridgeError as exc:
        raise CommandError(f"{args.device}: {exc}") from exc
    out = {
        "bytes": sent.bytes,
        "topic": sent.topic_id,
        "message_id": sent.message_id,
        "segments": sent.segments,
        "outcome": "mo_ack_received",
    }
    emit(
        args,
        out,
        lambda r: f"sent {r['bytes']} bytes on topic {r['topic']} in {r['segments']} segments",
    )
    return 0


def run_probe(args: argparse.Namespace) -> int:
    """Print the modem's identity and signal."""
    from firmware_bridge.driver import Modem
    from firmware_bridge.errors import BridgeError

    if args.model == "9704":
        return _probe_9704(args)

    try:
        with Modem.open(args.device, timeout_s=args.timeout) as modem:
            modem.initialise()
            info = modem.probe()
    except BridgeError as exc:
        raise CommandError(f"{args.device}: {exc}") from exc
    result = {
        "device": args.device,
        "model": info.model,
        "revision": list(info.revision),
        "imei": info.imei,
        "signal": info.signal,
        "system_time": info.system_time.isoformat() if info.system_time else None,
    }
    emit(args, result, lambda r: f"{r['model']} IMEI {r['imei']}, signal {r['signal']}/5")
    return 0


def run_send(args: argparse.Namespace) -> int:
    """Write the file to the MO buffer and run one SBD session."""
    from firmware_bridge.driver import Modem
    from firmware_bridge.errors import BridgeError

    try:
        with open(args.file, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    if args.model == "9704":
        return _send_9704(args, data)
    if not 1 <= len(data) <= 340:
        raise CommandError(f"{args.file} has {len(data)} bytes; one SBD message holds 1..340")
    try:
        with Modem.open(
            args.device, timeout_s=args.timeout, session_timeout_s=args.session_timeout
        ) as modem:
            modem.initialise()
            modem.write_mo(data)
            result = modem.session()
            if result.ok:
                modem.clear("mo")
    except BridgeError as exc:
        raise CommandError(f"{args.device}: {exc}") from exc
    if not result.ok:
        outcome = result.outcome
        retry = f", retry in {outcome.retry_after_s:.0f} s" if outcome.retry_after_s else ""
        raise CommandError(
            f"session failed: MO status {outcome.code} ({outcome.text}, {outcome.kind.value}"
            f"{retry})"
        )
    out = {
        "bytes": len(data),
        "mo_status": result.mo_status,
        "momsn": result.momsn,
        "mt_status": result.mt_status,
        "mt_length": result.mt_length,
        "mt_queued": result.mt_queued,
        "outcome": result.outcome.kind.value,
    }
    emit(
        args,
        out,
        lambda r: f"sent {r['bytes']} bytes, MOMSN {r['momsn']} ({r['mt_queued']} MT queued)",
    )
    return 0
