"""`flip bridge emulate|probe|send` (CONTRACTS.md, "bridge")."""

from __future__ import annotations

import argparse
from typing import Any

from flip.output import CommandError, emit

DEFAULT_IMEI = "300234010753370"


def register(sub: Any) -> None:
    """Add the ``bridge`` subcommand and its own subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "bridge", help="Iridium SBD modem: emulator, probe, one-shot send"
    )
    bsub = p.add_subparsers(dest="bridge_command", metavar="SUBCOMMAND", required=True)

    e = bsub.add_parser("emulate", help="run an emulated Iridium 9602/9603 on a pty")
    e.add_argument("--imei", default=DEFAULT_IMEI, help="15-digit IMEI the modem reports")
    e.add_argument("--directip", required=True, metavar="HOST:PORT",
                   help="where successful sessions deliver DirectIP MO messages")
    e.add_argument("--mt-listen", metavar="HOST:PORT",
                   help="accept DirectIP MT messages here (port 0: any free port)")
    e.add_argument("--link", default="always-up", metavar="PROFILE",
                   help="link model: always-up, no-service, flaky, rough")
    e.add_argument("--latency", type=float, default=0.05, metavar="SECONDS",
                   help="base session latency (real links: 5-20 s)")
    e.add_argument("--seed", type=int, default=0, help="seed for random link profiles")
    e.add_argument("--echo-off", action="store_true", help="start with echo off (ATE0)")
    e.add_argument("--write-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="AT+SBDWB/+SBDWT data timeout (the modem's is 60 s)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run_emulate)

    pr = bsub.add_parser("probe", help="model, IMEI and signal of a modem")
    pr.add_argument("device", help="serial device or pyserial URL")
    pr.add_argument("--timeout", type=float, default=5.0)
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=run_probe)

    s = bsub.add_parser("send", help="load a file into the MO buffer and run one session")
    s.add_argument("device", help="serial device or pyserial URL")
    s.add_argument("--file", required=True, help="payload, 1..340 bytes")
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
        emit(args, ready, lambda r: f"emulated modem {r['imei']} on {r['device']} "
             "(connect with: screen DEVICE 19200); Ctrl-C stops")
        while not stop.wait(0.5):
            pass
    finally:
        emulator.close()
    return 0


def run_probe(args: argparse.Namespace) -> int:
    """Print the modem's identity and signal."""
    from firmware_bridge.driver import Modem
    from firmware_bridge.errors import BridgeError

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
    emit(args, out, lambda r: f"sent {r['bytes']} bytes, MOMSN {r['momsn']}"
         f" ({r['mt_queued']} MT queued)")
    return 0
