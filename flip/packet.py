"""`flip packet seal|open|inspect` — make and read single frames by hand (testers, support)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flip.output import CommandError, emit


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("packet", help="seal, open or inspect a frame")
    psub = p.add_subparsers(dest="packet_command", metavar="ACTION", required=True)

    seal = psub.add_parser("seal", help="one frame carrying one grievance, as it goes on air")
    seal.add_argument("--sign-key", required=True, type=Path, help="vessel Ed25519 private PEM")
    seal.add_argument("--seal-pub", required=True, type=Path, help="shore X25519 public PEM")
    seal.add_argument("--category", required=True, help="e.g. 0x17 or withholding_of_wages")
    seal.add_argument("--lang", required=True, help="my, th, km, id, vi, tl or en")
    seal.add_argument("--text", default="", help="free text (optional)")
    seal.add_argument(
        "--voice",
        type=Path,
        default=None,
        help="a recording (WAV, any common rate, mono or stereo) to send as a voice note "
        "instead of text; it must fit one frame (about 2 s of 700C)",
    )
    seal.add_argument(
        "--mode", default="700C", help="Codec2 mode of a voice note: 700C (default), 1200, 1600"
    )
    seal.add_argument("--pseudonym", default=None, help="optional crew pseudonym")
    seal.add_argument("--seq", type=int, default=1, help="message sequence number (default 1)")
    seal.add_argument("--time", default=None, help="ISO 8601 time (default: now)")
    seal.add_argument("--out", required=True, type=Path)
    seal.add_argument("--json", action="store_true")
    seal.set_defaults(func=run_seal)

    opn = psub.add_parser("open", help="verify and decrypt a frame")
    opn.add_argument("file", type=Path)
    opn.add_argument("--seal-key", required=True, type=Path, help="shore X25519 private PEM")
    opn.add_argument("--sign-pub", required=True, type=Path, help="vessel Ed25519 public PEM")
    opn.add_argument(
        "--audio-out",
        type=Path,
        default=None,
        help="write the decoded audio of each voice note here as <seq>.wav (8 kHz mono)",
    )
    opn.add_argument("--json", action="store_true")
    opn.set_defaults(func=run_open)

    ins = psub.add_parser("inspect", help="show a frame's structure without decrypting")
    ins.add_argument("file", type=Path)
    ins.add_argument(
        "--link",
        choices=("sbd", "imt", "ip"),
        default="sbd",
        help="the link it came by, whose frame size applies (wire format §1.1; default sbd)",
    )
    ins.add_argument("--json", action="store_true")
    ins.set_defaults(func=run_inspect)


def _time(text: str | None) -> int:
    if text is None:
        return int(datetime.now(UTC).timestamp())
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--time {text!r} is not ISO 8601") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc


def run_seal(args: argparse.Namespace) -> int:
    from flip import keyfiles
    from protocol import frame
    from protocol.category import parse_category
    from protocol.errors import ProtocolError
    from protocol.lang import lang_from_tag
    from protocol.messages import Grievance, VoiceNote
    from protocol.vessel import VesselSession
    from vessel_agent.voice import VoiceError

    try:
        sign_key = keyfiles.load_signing(args.sign_key)
        seal_pub = keyfiles.load(args.seal_pub, "seal_public")
        content: Grievance | VoiceNote = Grievance(
            category=parse_category(args.category),
            lang=lang_from_tag(args.lang),
            text=args.text,
            pseudonym=args.pseudonym,
        )
        if args.voice is not None:
            content = _voice_note(args, content)
        if args.seq < 1:
            raise CommandError("--seq must be ≥ 1")
        # The shore's signing key is not needed to seal; the session only verifies downlink.
        session = VesselSession(
            sign_key=sign_key,
            shore_sign_pub=sign_key.public_key(),
            shore_seal_pub=seal_pub,  # type: ignore[arg-type]
            next_seq=args.seq,
        )
        when = _time(args.time)
        items = session.queue_crew(content, when)
        if len(items) > 1:
            raise CommandError(
                f"the grievance needs {len(items)} fragments; one frame holds at most "
                f"{frame.UPLINK_MAX} bytes — shorten the "
                f"{'recording' if args.voice else 'text'} (the vessel agent fragments)"
            )
        out = session.frames_to_send(when)[0]
    except (keyfiles.KeyFileError, ProtocolError, VoiceError) as exc:
        raise CommandError(str(exc)) from exc
    try:
        args.out.write_bytes(out.data)
    except OSError as exc:
        raise CommandError(f"cannot write {args.out}: {exc.strerror}") from exc
    result = {
        "out": str(args.out),
        "bytes": len(out.data),
        "seq": items[0].seq,
        "time": _iso(when),
        "kid": session.kid.hex(),
        "limit": frame.UPLINK_MAX,
    }
    emit(args, result, lambda r: f"wrote {r['out']}: {r['bytes']} bytes (limit {r['limit']})")
    return 0


def _voice_note(args: argparse.Namespace, written: Any) -> Any:
    """The recording ``--voice`` names, encoded in memory into a voice note."""
    from protocol import voice as wire
    from vessel_agent import voice

    if args.text:
        raise CommandError("give --text or --voice, not both")
    encoded = voice.encode(_read(args.voice), wire.mode_by_name(args.mode))
    return encoded.note(category=written.category, lang=written.lang, pseudonym=args.pseudonym)


def describe(msg: Any) -> dict[str, Any]:
    """A JSON-able description of one message (sealed bodies shown by size only)."""
    from protocol.messages import (
        Ack,
        CaseStatus,
        Config,
        CrewMessage,
        Delivered,
        Fragment,
        Heartbeat,
        KeyRotation,
        Position,
        ShoreMessage,
    )

    match msg:
        case CrewMessage():
            return {
                "kind": "crew",
                "seq": msg.seq,
                "time": _iso(msg.time),
                "sealed_bytes": len(msg.sealed),
            }
        case Heartbeat():
            out = {
                "kind": "heartbeat",
                "seq": msg.seq,
                "time": _iso(msg.time),
                "queue_depth": msg.queue_depth,
                "last_seq": msg.last_seq,
                "chain": msg.chain.hex(),
            }
            if msg.lost_count:  # element 6: seqs the vessel declares it will never send
                out["lost_count"] = msg.lost_count
                out["lost"] = [[r.first, r.last, r.reason] for r in msg.lost]
            return out
        case Position():
            return {
                "kind": "position",
                "seq": msg.seq,
                "time": _iso(msg.time),
                "lat": msg.lat,
                "lon": msg.lon,
                "speed_kn": msg.speed_kn,
                "course_deg": msg.course_deg,
            }
        case Fragment():
            return {
                "kind": "fragment",
                "seq": msg.seq,
                "index": msg.index,
                "count": msg.count,
                "chunk_bytes": len(msg.chunk),
            }
        case Ack():
            return {"kind": "ack", "cum_seq": msg.cum_seq, "seqs": msg.seqs()}
        case CaseStatus():
            return {
                "kind": "case_status",
                "ref_seq": msg.ref_seq,
                "case_ref": msg.case_ref,
                "status": msg.status,
                "note": msg.note,
            }
        case Config():
            return {
                "kind": "config",
                "version": msg.version,
                "airtime_bytes_per_day": msg.airtime_bytes_per_day,
                "report_interval_s": msg.report_interval_s,
            }
        case KeyRotation():
            return {"kind": "key_rotation", "epoch": msg.epoch}
        case Delivered():
            return {
                "kind": "delivered",
                "seq": msg.seq,
                "time": _iso(msg.time),
                "ids": list(msg.ids),
            }
        case ShoreMessage():
            return {
                "kind": "shore_message",
                "ref_seq": msg.ref_seq,
                "msg_id": msg.msg_id,
                "part": msg.part,
                "parts": msg.parts,
                "chunk_bytes": len(msg.chunk),
            }
    return {"kind": "unknown", "type": msg.type, "seq": msg.seq}


def run_open(args: argparse.Namespace) -> int:
    from flip import keyfiles
    from protocol import frame, voice
    from protocol.category import Category
    from protocol.errors import ProtocolError
    from protocol.messages import CrewMessage, Grievance, VoiceNote
    from protocol.shore import open_crew, verify_frame

    data = _read(args.file)
    try:
        seal_key = keyfiles.load(args.seal_key, "seal")
        verify_key = keyfiles.load(args.sign_pub, "verify")
        _, sign1 = verify_frame(data, lambda _kid: [("vessel", verify_key)])  # type: ignore[list-item]
        messages = []
        for msg, _ in frame.parse_uplink(sign1.payload):
            item = describe(msg)
            if isinstance(msg, CrewMessage):
                content = open_crew(msg, sign1.kid, [seal_key])  # type: ignore[list-item]
                item.pop("sealed_bytes")
                if isinstance(content, Grievance):
                    try:
                        label = Category(content.category).label
                    except ValueError:
                        label = "unknown"
                    item.update(
                        kind="grievance",
                        category=f"0x{content.category:02x}",
                        category_label=label,
                        lang=content.lang.tag,
                        text=content.text,
                        pseudonym=content.pseudonym,
                    )
                    if content.zawgyi is not None:  # say how the vessel handled Zawgyi
                        item["zawgyi"] = content.zawgyi.describe()
                elif isinstance(content, VoiceNote):
                    item.update(
                        kind="voice",
                        category=f"0x{content.category:02x}",
                        category_label=_label(content.category),
                        lang=content.lang.tag,
                        mode=voice.MODES[content.mode].name,
                        duration_s=content.duration_ms / 1000,
                        pseudonym=content.pseudonym,
                    )
                    if args.audio_out is not None:
                        item["audio"] = _write_audio(args.audio_out, msg.seq, content)
                else:
                    item.update(kind=type(content).__name__.lower(), ref_seq=content.ref_seq)
            messages.append(item)
    except (keyfiles.KeyFileError, ProtocolError) as exc:
        raise CommandError(f"{type(exc).__name__}: {exc}") from exc
    result = {
        "file": str(args.file),
        "bytes": len(data),
        "kid": sign1.kid.hex(),
        "verified": True,
        "messages": messages,
    }
    emit(args, result, _human_messages)
    return 0


def _label(code: int) -> str:
    from protocol.category import Category

    try:
        return Category(code).label
    except ValueError:
        return "unknown"


def _write_audio(directory: Path, seq: int, note: Any) -> str:
    """Decode a voice note and write it as ``<seq>.wav`` in ``directory``."""
    from shore_gateway.voice import note_wav

    path = directory / f"{seq}.wav"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_bytes(note_wav(note))
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
    return str(path)


def _whole(described: dict[str, Any], msg: Any, encoded: bytes) -> dict[str, Any]:
    """A whole message on a large link names the SBD fragment seqs it stands for (§1.1)."""
    from protocol import links

    expanded = links.expand([(msg, encoded)])
    if len(expanded) > 1:
        described["stands_for_seqs"] = [m.seq for m, _ in expanded]
    return described


def run_inspect(args: argparse.Namespace) -> int:
    """An uplink or a downlink frame (told apart by its payload), refused as the decoders do."""
    from protocol import cbor, frame, links
    from protocol.errors import Oversize, ProtocolError

    data = _read(args.file)
    link = links.BY_NAME[getattr(args, "link", "sbd")]
    try:
        # The largest frame of either direction; a downlink frame is held to its own limit below.
        sign1 = frame.parse(data, max_size=max(link.uplink, link.downlink))
        body = cbor.loads(sign1.payload, what="payload")
        downlink = isinstance(body, list) and len(body) == 4
        most = links.max_messages(len(sign1.payload))
        if downlink:
            if len(data) > link.downlink:
                raise Oversize(f"downlink frame of {len(data)} bytes exceeds {link.downlink}")
            to_kid, shore_time, downlink_msgs = links.parse_downlink(sign1.payload)
            messages = [describe(m) for m in downlink_msgs]
        else:
            if len(data) > link.uplink:
                raise Oversize(f"uplink frame of {len(data)} bytes exceeds {link.uplink}")
            on_air = frame.parse_uplink(sign1.payload, max_messages=most)
            messages = [_whole(describe(m), m, e) for m, e in on_air]
            links.expand(on_air)  # refused as a receiver would (a whole message too long)
    except ProtocolError as exc:
        raise CommandError(f"{type(exc).__name__}: {exc}") from exc
    result: dict[str, Any] = {
        "file": str(args.file),
        "bytes": len(data),
        "direction": "downlink" if downlink else "uplink",
    }
    result["link"] = link.name
    if downlink:
        result |= {
            "fits_sbd_mt": len(data) <= frame.DOWNLINK_MAX,
            "to_kid": to_kid.hex(),
            "time": _iso(shore_time),
        }
    else:
        result["fits_sbd_mo"] = len(data) <= frame.UPLINK_MAX
    result |= {
        "alg": "EdDSA",
        "kid": sign1.kid.hex(),
        "payload_bytes": len(sign1.payload),
        "signature_bytes": len(sign1.signature),
        "verified": False,
        "messages": messages,
    }
    emit(args, result, _human_messages)
    return 0


def _human_messages(r: Any) -> str:
    lines = [f"{r['file']}: {r['bytes']} bytes, kid {r['kid']}"]
    for m in r["messages"]:
        lines.append("  " + ", ".join(f"{k}={v}" for k, v in m.items()))
    return "\n".join(lines)
