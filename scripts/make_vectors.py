"""Write the golden test vectors in tests/protocol/vectors/frames.json.

Run once when the wire format changes (and bump the protocol or dictionary version):
    .venv/bin/python scripts/make_vectors.py          # frames.json and voice.json
    .venv/bin/python scripts/make_vectors.py voice    # voice.json only
Keys are derived from fixed labels so another implementation can recreate them. Signatures are
deterministic (Ed25519), HPKE seals are not: vectors with sealed bodies are decode-only, and a
re-run keeps the published bytes of every sealed vector that already exists (they stay valid),
so adding a vector does not churn the others.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import conversation, keys
from protocol.lang import Lang
from protocol.messages import (
    Ack,
    CaseStatus,
    Config,
    Grievance,
    Reply,
    StatusRequest,
)
from protocol.shore import pack_downlink
from protocol.vessel import VesselSession

OUT = Path(__file__).resolve().parent.parent / "tests" / "protocol" / "vectors" / "frames.json"
VOICE_OUT = OUT.with_name("voice.json")
T = 1_763_640_000  # 2025-11-20T12:00:00Z


def seed(label: str) -> bytes:
    return hashlib.sha256(f"flip-sync test vector {label}".encode()).digest()


def main() -> None:
    vessel = Ed25519PrivateKey.from_private_bytes(seed("vessel sign"))
    shore_sign = Ed25519PrivateKey.from_private_bytes(seed("shore sign"))
    shore_seal = X25519PrivateKey.from_private_bytes(seed("shore seal"))
    reply_key = X25519PrivateKey.from_private_bytes(seed("crew reply"))
    reply_pub = keys.raw_public(reply_key.public_key())
    vkid = keys.key_id(vessel.public_key())
    skid = keys.key_id(shore_sign.public_key())

    def session(next_seq: int = 1) -> VesselSession:
        return VesselSession(sign_key=vessel, shore_sign_pub=shore_sign.public_key(),
                             shore_seal_pub=shore_seal.public_key(), next_seq=next_seq)

    vectors = []

    s = session(41)
    s.queue_position(time=T, lat=-4.61792, lon=55.45188, speed_kn=9.6, course_deg=8, now=T)
    s.queue_heartbeat(T, queue_depth=0)
    f = s.frames_to_send(T)[0]
    vectors.append({"name": "position and heartbeat", "direction": "uplink", "deterministic": True,
                    "frame": f.data.hex(), "expect": {"seqs": list(f.seqs)}})

    for name, content in [
        ("grievance my 0x17", Grievance(category=0x17, lang=Lang.MY,
                                         text="ဆရာက ကျွန်တော့်လစာကို သုံးလကြာ မပေးသေးပါ။")),
        ("grievance en urgent", Grievance(category=0xF1, lang=Lang.EN,
                                           text="Engineer badly burned, captain refuses port",
                                           pseudonym="K7")),
        ("status request", StatusRequest(ref_seq=3)),
        ("grievance km with reply key", Grievance(category=0x21, lang=Lang.KM,
                                                  text="ខ្ញុំធ្វើការ២០ម៉ោងក្នុងមួយថ្ងៃ",
                                                  reply_pub=reply_pub)),
        ("reply my", Reply(ref_seq=7, lang=Lang.MY, text="တနင်္လာနေ့ပါ။ အခု ဘေးကင်းပါတယ်။")),
    ]:
        s = session(7)
        s.queue_crew(content, T)
        f = s.frames_to_send(T)[0]
        expect = {"seqs": list(f.seqs), "content": {
            k: (int(v) if isinstance(v, Lang) else v.hex() if isinstance(v, bytes) else v)
            for k, v in ((a, getattr(content, a)) for a in content.__slots__)  # type: ignore[attr-defined]
        }}
        vectors.append({"name": name, "direction": "uplink", "deterministic": False,
                        "frame": f.data.hex(), "expect": expect})

    ack = pack_downlink(shore_sign, skid, vkid, [
        Ack.of(40, [42, 43]),
        CaseStatus(ref_seq=7, case_ref="C-0042", status=2, note=1),
        Config(version=3, airtime_bytes_per_day=3000, report_interval_s=3600),
    ], T)[0]
    vectors.append({"name": "ack, status and config", "direction": "downlink",
                    "deterministic": True, "frame": ack.hex(),
                    "expect": {"to_kid": vkid.hex(), "time": T}})

    s = session(9)
    s.queue_delivered([5, 6], T)
    f = s.frames_to_send(T)[0]
    vectors.append({"name": "delivered", "direction": "uplink", "deterministic": True,
                    "frame": f.data.hex(), "expect": {"seqs": list(f.seqs)}})

    # A shore question sealed to the reply key of grievance 7 (protocol.conversation), in as
    # many MT frames as it takes; open with reply_private_raw after joining the parts.
    question = conversation.ShoreText(
        lang=Lang.MY, text="ဒီအဖြစ်အပျက်က ဘယ်နေ့က ဖြစ်ခဲ့တာလဲ။ အခု လုံခြုံရဲ့လား။ "
        "ဆိပ်ကမ်းမှာ ဖုန်းဆက်နိုင်မလား။")
    sealed = conversation.seal_text(question, reply_pub, to_kid=vkid, ref_seq=7, msg_id=5)
    parts = conversation.split(sealed, ref_seq=7, msg_id=5)
    frames = [pack_downlink(shore_sign, skid, vkid, [p], T)[0] for p in parts]
    vectors.append({"name": "shore message my", "direction": "downlink", "deterministic": False,
                    "frame": frames[0].hex(), "frames": [fr.hex() for fr in frames],
                    "expect": {"to_kid": vkid.hex(), "time": T, "ref_seq": 7, "msg_id": 5,
                               "shore_text": {"lang": int(question.lang),
                                              "text": question.text}}})

    good = bytes.fromhex(vectors[0]["frame"])
    bad = bytearray(good)
    bad[-1] ^= 0x80
    vectors.append({"name": "signature bit flipped", "direction": "uplink", "deterministic": True,
                    "frame": bytes(bad).hex(), "expect": {"error": "BadSignature"}})
    vectors.append({"name": "oversize", "direction": "uplink", "deterministic": True,
                    "frame": (good + bytes(341 - len(good))).hex(),
                    "expect": {"error": "Oversize"}})

    doc = {
        "about": "flip-sync wire format v1 golden vectors; see docs/wire-format.md",
        "keys": {
            "vessel_sign_private_raw": seed("vessel sign").hex(),
            "vessel_sign_public_raw": keys.raw_public(vessel.public_key()).hex(),
            "vessel_kid": vkid.hex(),
            "shore_sign_private_raw": seed("shore sign").hex(),
            "shore_sign_public_raw": keys.raw_public(shore_sign.public_key()).hex(),
            "shore_kid": skid.hex(),
            "shore_seal_private_raw": seed("shore seal").hex(),
            "shore_seal_public_raw": keys.raw_public(shore_seal.public_key()).hex(),
            "crew_reply_private_raw": seed("crew reply").hex(),
            "crew_reply_public_raw": reply_pub.hex(),
        },
        "vectors": vectors,
    }
    if OUT.exists():
        published = {v["name"]: v for v in json.loads(OUT.read_text(encoding="utf-8"))["vectors"]}
        vectors[:] = [
            published[v["name"]] if not v["deterministic"] and v["name"] in published else v
            for v in vectors
        ]
    OUT.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUT.name}")


def tone_frames(mode_name: str, ms: int) -> tuple[int, tuple[bytes, ...]]:
    """Codec2 frames of a 440 Hz tone (the agent's encoder), for vectors another implementation
    can decode and listen to."""
    import numpy as np

    from protocol import voice
    from vessel_agent.voice import encode_pcm

    pcm = (8000 * np.sin(2 * np.pi * 440 * np.arange(ms * 8) / 8000)).astype(np.int16)
    mode = voice.mode_by_name(mode_name)
    return mode.code, encode_pcm(pcm, mode)


def voice_vectors() -> None:
    """tests/protocol/vectors/voice.json: exact plaintexts of voice notes (CrewKind 5), refused
    bodies, and one sealed frame (decode-only) under the keys of frames.json."""
    from protocol import cbor
    from protocol.messages import VoiceNote, encode_crew

    vectors: list[dict[str, object]] = []
    for name, mode_name, ms, lang, pseudonym in [
        ("700C 0.2 s my pseudonym", "700C", 200, Lang.MY, "K7"),
        ("700C 0.13 s th (last frame padded)", "700C", 130, Lang.TH, None),
        ("1200 0.12 s km", "1200", 120, Lang.KM, None),
        ("1600 0.08 s en", "1600", 80, Lang.EN, None),
    ]:
        code, frames = tone_frames(mode_name, ms)
        note = VoiceNote(category=0x17, lang=lang, mode=code, duration_ms=ms, frames=frames,
                         pseudonym=pseudonym)
        content: dict[str, object] = {"category": 0x17, "lang": int(lang), "codec": 1,
                                      "mode": code, "duration_ms": ms,
                                      "frames": [f.hex() for f in frames]}
        if pseudonym is not None:
            content["pseudonym"] = pseudonym
        vectors.append({"name": name, "plaintext": encode_crew(note).hex(), "content": content})
    for name, item, error in [
        ("frames truncated", [5, 0x17, 2, 1, 8, 200, bytes(17)], "Malformed"),
        ("padding bits set", [5, 0x17, 2, 1, 8, 40, b"\0\0\0\x01"], "Malformed"),
        ("longer than 60 s", [5, 0x17, 2, 1, 8, 60_040, bytes(5254)], "Oversize"),
        ("unknown Codec2 mode 6", [5, 0x17, 2, 1, 6, 40, bytes(4)], "Malformed"),
        ("unknown codec 2", [5, 0x17, 2, 2, 8, 40, bytes(4)], "Malformed"),
    ]:
        vectors.append({"name": name, "plaintext": cbor.dumps(item).hex(), "error": error})

    vessel = Ed25519PrivateKey.from_private_bytes(seed("vessel sign"))
    shore_sign = Ed25519PrivateKey.from_private_bytes(seed("shore sign"))
    shore_seal = X25519PrivateKey.from_private_bytes(seed("shore seal"))
    s = VesselSession(sign_key=vessel, shore_sign_pub=shore_sign.public_key(),
                      shore_seal_pub=shore_seal.public_key(), next_seq=9)
    code, frames = tone_frames("700C", 1000)
    s.queue_crew(VoiceNote(category=0x31, lang=Lang.ID, mode=code, duration_ms=1000,
                           frames=frames), T)
    f = s.frames_to_send(T)[0]
    doc = {
        "about": "flip-sync voice notes (crew content kind 5), see docs/wire-format.md; "
                 "plaintexts are exact, the sealed frame (keys of frames.json) is decode-only",
        "vectors": vectors,
        "sealed_frame": {"frame": f.data.hex(), "seqs": list(f.seqs), "duration_ms": 1000,
                         "frames": [x.hex() for x in frames]},
    }
    VOICE_OUT.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} voice vectors and a sealed frame to {VOICE_OUT.name}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["voice"]:  # only the voice vectors (frames.json keeps its sealed bytes)
        voice_vectors()
    else:
        main()
        voice_vectors()
