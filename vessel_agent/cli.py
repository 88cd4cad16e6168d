"""`flip vessel init|run|submit|withdraw|ask|reply|status|terminal` (CONTRACTS.md, "vessel").

Top-level imports stay light: ``flip --help`` imports every package's cli module, so the heavy
parts (cryptography, sqlite, Textual) load inside the handlers.
"""

from __future__ import annotations

import argparse
from typing import Any

from flip.output import CommandError, emit


def register(sub: Any) -> None:
    """Add the ``vessel`` subcommand and its own subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "vessel", help="on-board agent: outbox, scheduler, crew terminal"
    )
    vsub = p.add_subparsers(dest="vessel_command", metavar="SUBCOMMAND", required=True)

    i = vsub.add_parser("init", help="create an agent directory, its config and device keys")
    i.add_argument("--dir", required=True, help="agent directory to create")
    i.add_argument("--name", required=True, help="vessel name")
    i.add_argument("--imei", required=True, help="15-digit IMEI of the SBD modem")
    i.add_argument("--seal-pub", required=True, metavar="PEM", help="shore X25519 public key")
    i.add_argument(
        "--shore-sign-pub",
        required=True,
        metavar="PEM",
        help="shore Ed25519 public key (verifies acks and status)",
    )
    i.add_argument("--serial", default="", metavar="DEVICE", help="modem device or pyserial URL")
    _optional_links(i)
    i.add_argument("--budget", type=int, metavar="BYTES", help="airtime bytes per day")
    i.add_argument("--force", action="store_true", help="overwrite an existing config")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_init)

    r = vsub.add_parser("run", help="run the agent until SIGTERM/SIGINT")
    r.add_argument("--dir", required=True)
    r.add_argument("--json", action="store_true", help="print one JSON line when ready")
    r.add_argument(
        "--crew-http",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="serve the crew app here (default 127.0.0.1:8080, the box's own screen; a vessel "
        "LAN address is an explicit choice; '' turns it off)",
    )
    r.set_defaults(func=run_agent)

    s = vsub.add_parser("submit", help="seal and queue one grievance")
    s.add_argument("--dir", required=True)
    s.add_argument("--category", required=True, help="0x17, 23 or withholding_of_wages")
    s.add_argument("--lang", required=True, help="my, th, km, id, vi, tl or en")
    s.add_argument("--text", default="", help="free text (optional)")
    s.add_argument(
        "--voice",
        metavar="FILE",
        help="a recording (WAV of any common rate, mono or stereo) sent as a voice note instead "
        "of text: encoded with Codec2 and sealed in memory, never stored unsealed",
    )
    s.add_argument(
        "--mode", default="700C", help="Codec2 mode of a voice note: 700C (default), 1200, 1600"
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_submit)

    w = vsub.add_parser(
        "withdraw", help="queue a sealed withdrawal of the grievance a receipt names"
    )
    w.add_argument("--dir", required=True)
    w.add_argument("--receipt", required=True, metavar="CODE", help="the grievance's receipt code")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=run_follow_up, withdraw=True)

    a = vsub.add_parser(
        "ask", help="queue a sealed request for news of the grievance a receipt names"
    )
    a.add_argument("--dir", required=True)
    a.add_argument("--receipt", required=True, metavar="CODE", help="the grievance's receipt code")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_follow_up, withdraw=False)

    _add_reply(vsub)

    st = vsub.add_parser("status", help="queue depth, message states, link state")
    st.add_argument("--dir", required=True)
    st.add_argument(
        "--receipt",
        metavar="CODE",
        help="only the message with this receipt, and the shore's messages to its holder",
    )
    st.add_argument("--limit", type=int, default=200, help="at most this many messages listed")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=run_status)

    t = vsub.add_parser("terminal", help="full-screen crew terminal")
    t.add_argument("--dir", required=True)
    t.add_argument("--lang", help="start in this language")
    t.set_defaults(func=run_terminal)


def _add_reply(vsub: Any) -> None:
    rp = vsub.add_parser(
        "reply", help="queue a sealed answer to the shore about the grievance a receipt names"
    )
    rp.add_argument("--dir", required=True)
    rp.add_argument("--receipt", required=True, metavar="CODE", help="the grievance's receipt code")
    rp.add_argument("--text", required=True, help="the answer, in the crew member's words")
    rp.add_argument("--lang", default="und", help="language of the answer (my, th, km, …)")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=run_reply)


def _device(path: str) -> Any:
    from vessel_agent.device import Device
    from vessel_agent.errors import AgentError

    try:
        return Device(path)
    except AgentError as exc:
        raise CommandError(str(exc)) from exc


def _optional_links(parser: argparse.ArgumentParser) -> None:
    """``init``'s optional devices and links besides the SBD modem."""
    parser.add_argument("--gps", default="", metavar="DEVICE", help="NMEA GPS device (optional)")
    parser.add_argument(
        "--imt-serial",
        default="",
        metavar="DEVICE",
        help="RockBLOCK 9704 (IMT) device or pyserial URL (optional)",
    )
    parser.add_argument(
        "--broadband-url",
        default="",
        metavar="URL",
        help="gateway's https://…/ingest/frames, used while the vessel has an IP link (optional)",
    )


def run_init(args: argparse.Namespace) -> int:
    """Create the directory, copy the shore keys, make the device key, write the config."""
    from vessel_agent.errors import AgentError
    from vessel_agent.setup import init_dir

    try:
        result = init_dir(
            args.dir,
            name=args.name,
            imei=args.imei,
            seal_pub=args.seal_pub,
            shore_sign_pub=args.shore_sign_pub,
            serial=args.serial,
            gps=args.gps,
            imt_serial=args.imt_serial,
            broadband_url=args.broadband_url,
            budget=args.budget,
            force=args.force,
        )
    except AgentError as exc:
        raise CommandError(str(exc)) from exc
    emit(
        args,
        result,
        lambda r: f"agent directory ready; register {r['sign_public']} ashore (kid {r['kid']})",
    )
    return 0


def run_agent(args: argparse.Namespace) -> int:
    """Run the agent; SIGTERM and SIGINT stop it cleanly between sessions."""
    import json
    import signal

    from vessel_agent.agent import Agent
    from vessel_agent.crewapp.server import parse_address

    try:
        crew_address = parse_address(args.crew_http)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    device = _device(args.dir)
    agent = Agent(device)
    crew: Any = None

    def stop(*_: object) -> None:
        agent.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def ready(info: dict[str, Any]) -> None:
        nonlocal crew
        if crew_address:  # after "agent_started": the crew app is an addition to the agent
            crew = _start_crew_app(args.dir, crew_address, agent)
        info["crew_http"] = crew.url if crew is not None else None
        if args.json:
            print(json.dumps(info, sort_keys=True), flush=True)
        else:
            print(
                f"vessel agent ready: {info['pending']} pending, next seq {info['next_seq']}"
                + (f"; crew app at {crew.url}" if crew is not None else ""),
                flush=True,
            )

    try:
        agent.run(on_ready=ready)
    finally:
        if crew is not None:
            crew.close()
        device.close()
    return 0


def _start_crew_app(path: str, address: tuple[str, int], agent: Any) -> Any:
    """Serve the crew app; if it cannot (address in use, key unreadable) the agent runs on
    without it — the uplink matters more — and says why in its log."""
    from vessel_agent.crewapp.server import serve
    from vessel_agent.errors import AgentError

    cfg = agent.device.config
    try:
        return serve(path, address, default_lang=cfg.default_lang, idle_s=cfg.idle_timeout_s)
    except (OSError, AgentError) as exc:
        agent.log(
            "crew_app_unavailable",
            level="error",
            address=f"{address[0]}:{address[1]}",
            error=str(exc),
        )
        return None


def run_submit(args: argparse.Namespace) -> int:
    """Seal and queue one grievance; print its seq and receipt code."""
    from protocol.category import parse_category
    from protocol.errors import LocalProtocolError
    from protocol.lang import lang_from_tag
    from vessel_agent.errors import AgentError

    try:
        category = parse_category(args.category)
        lang = lang_from_tag(args.lang)
    except LocalProtocolError as exc:
        raise CommandError(str(exc)) from exc
    if category in (0x01, 0x02):
        raise CommandError("categories 0x01 and 0x02 are not grievances")
    recording = _voice(args) if args.voice else None
    device = _device(args.dir)
    try:
        done = device.submit(category=category, lang=lang, text=args.text, voice=recording)
        kid = device.session.kid.hex()
    except (AgentError, LocalProtocolError) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        device.close()
    result = {
        "id": f"{kid}-{done.seq}",
        "seq": done.seq,
        "state": "queued",
        "receipt": done.receipt,
        "fragments": done.fragments,
    }
    if recording is not None:
        result["kind"] = "voice"
        result["mode"] = recording.mode.name
        result["duration_s"] = recording.duration_ms / 1000
    said = ""
    if done.zawgyi is not None:  # Burmese typed in Zawgyi (vessel_agent.zawgyi)
        result["zawgyi"] = done.zawgyi.name.lower()
        said = {
            "converted": " (typed in Zawgyi: converted to Unicode, the words as typed sent too)",
            "unsure": " (may be Zawgyi: sent as typed, with a converted reading for staff)",
        }[result["zawgyi"]]
    emit(args, result, lambda r: f"queued as seq {r['seq']}; receipt code {r['receipt']}{said}")
    return 0


def _voice(args: argparse.Namespace) -> Any:
    """The recording ``--voice`` names, checked and encoded in memory (vessel_agent.voice)."""
    from protocol import voice as wire
    from protocol.errors import LocalProtocolError
    from vessel_agent import voice

    if args.text:
        raise CommandError("give --text or --voice, not both")
    try:
        with open(args.voice, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CommandError(f"cannot read {args.voice}: {exc.strerror}") from exc
    try:
        return voice.encode(data, wire.mode_by_name(args.mode))
    except (voice.VoiceError, LocalProtocolError) as exc:
        raise CommandError(str(exc)) from exc


def run_follow_up(args: argparse.Namespace) -> int:
    """Queue a sealed Withdraw or StatusRequest for the grievance the receipt code names."""
    from protocol.errors import LocalProtocolError
    from vessel_agent.errors import AgentError

    device = _device(args.dir)
    try:
        done = (device.withdraw if args.withdraw else device.request_status)(args.receipt)
        kid = device.session.kid.hex()
    except (AgentError, LocalProtocolError) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        device.close()
    result = {
        "id": f"{kid}-{done.seq}",
        "seq": done.seq,
        "ref_seq": done.ref_seq,
        "kind": "withdraw" if args.withdraw else "status_request",
        "state": "queued",
    }
    what = "withdrawal" if args.withdraw else "request for news"
    emit(
        args,
        result,
        lambda r: (
            f"{what} of seq {r['ref_seq']} queued as seq {r['seq']}; sent when the link allows"
        ),
    )
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Queue figures, per-message states and the link state the agent last saved."""
    from vessel_agent.errors import AgentError
    from vessel_agent.status import receipt_status, status

    device = _device(args.dir)
    try:
        if args.receipt:
            result = receipt_status(device, args.receipt)
        else:
            result = status(device, limit=args.limit)
    except AgentError as exc:
        raise CommandError(str(exc)) from exc
    finally:
        device.close()
    if args.receipt:
        emit(args, result, _human_receipt)
    else:
        emit(args, result, _human_status)
    return 0


def _human_receipt(r: Any) -> str:
    import time

    line = f"message {r['seq']}: {r['state']}"
    notes = r.get("messages", [])
    if notes:
        line += f"\nyou have {len(notes)} message{'s' if len(notes) > 1 else ''} from shore:"
        for m in notes:
            when = time.strftime("%d %b %H:%M", time.localtime(m["time"]))
            line += f"\n  {when}  {m['text'] if m['text'] is not None else '(sealed to the app)'}"
    return line


def run_reply(args: argparse.Namespace) -> int:
    """Queue the receipt holder's sealed answer (CrewKind reply) to the shore."""
    from protocol.errors import LocalProtocolError
    from protocol.lang import Lang, lang_from_tag
    from vessel_agent.errors import AgentError

    try:
        lang = Lang.UND if args.lang == "und" else lang_from_tag(args.lang)
    except LocalProtocolError as exc:
        raise CommandError(str(exc)) from exc
    device = _device(args.dir)
    try:
        done = device.reply(args.receipt, args.text, lang)
        kid = device.session.kid.hex()
    except (AgentError, LocalProtocolError) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        device.close()
    result = {
        "id": f"{kid}-{done.seq}",
        "seq": done.seq,
        "ref_seq": done.ref_seq,
        "kind": "reply",
        "state": "queued",
    }
    emit(
        args,
        result,
        lambda r: f"answer about seq {r['ref_seq']} queued as seq {r['seq']}; sealed to the shore",
    )
    return 0


def _human_status(r: Any) -> str:
    q = r["queue"]
    line = (
        f"{r['name']}: {q['queued']} queued, {q['sent']} awaiting ack, "
        f"{q['pending_bytes']} of {q['max_queue_bytes']} bytes; link {r['link']['link']}"
    )
    rec = r.get("recovered")
    if rec:
        lost = rec["lost"]
        line += (
            f"\noutbox was damaged and recovered (copy kept as {rec['evidence']}): "
            f"{rec['salvaged']['pending']} pending messages kept; lost seqs "
            f"{_ranges(lost['pending_seqs']) or 'none'} pending, "
            f"{lost['pending_grievances']} grievances; unreadable "
            f"{_ranges(lost['unreadable_seqs']) or 'none'}; next seq {rec['seq']['next_seq']}"
        )
    return line


def _ranges(ranges: list[list[int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def run_terminal(args: argparse.Namespace) -> int:
    """Run the crew terminal (interactive; no --json)."""
    from vessel_agent.terminal import CrewTerminal

    device = _device(args.dir)
    try:
        CrewTerminal(device, lang=args.lang).run()
    finally:
        device.close()
    return 0
