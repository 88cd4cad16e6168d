"""Write the golden test vectors in tests/protocol/vectors/frames.json.

Run once when the wire format changes (and bump the protocol or dictionary version):
    .venv/bin/python scripts/make_vectors.py          # frames.json and voice.json
    .venv/bin/python scripts/make_vectors.py voice    # voice.json only
    .venv/bin/python scripts/make_vectors.py text     # text.json only
Keys are derived from fixed labels so another implementation can recreate them. Signatures are
deterministic (Ed25519), HPKE seals are not: vectors with sealed bodies are decode-only, and a
re-run keeps the published bytes of every sealed vector that already exists (they stay valid),
so adding a vector does not churn the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
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
    KeyRotation,
    Reply,
    StatusRequest,
    encode_message,
)
from protocol.shore import pack_downlink
from protocol.vessel import VesselSession

OUT = Path(__file__).resolve().parent.parent / "tests" / "protocol" / "vectors" / "frames.json"
VOICE_OUT = OUT.with_name("voice.json")
TEXT_OUT = OUT.with_name("text.json")
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
        return VesselSession(
            sign_key=vessel,
            shore_sign_pub=shore_sign.public_key(),
            shore_seal_pub=shore_seal.public_key(),
            next_seq=next_seq,
        )

    vectors = []

    s = session(41)
    s.queue_position(time=T, lat=-4.61792, lon=55.45188, speed_kn=9.6, course_deg=8, now=T)
    s.queue_heartbeat(T, queue_depth=0)
    f = s.frames_to_send(T)[0]
    vectors.append(
        {
            "name": "position and heartbeat",
            "direction": "uplink",
            "deterministic": True,
            "frame": f.data.hex(),
            "expect": {"seqs": list(f.seqs)},
        }
    )

    for name, content in [
        (
            "grievance my 0x17",
            Grievance(category=0x17, lang=Lang.MY, text="ဆရာက ကျွန်တော့်လစာကို သုံးလကြာ မပေးသေးပါ။"),
        ),
        (
            "grievance en urgent",
            Grievance(
                category=0xF1,
                lang=Lang.EN,
                text="Engineer badly burned, captain refuses port",
                pseudonym="K7",
            ),
        ),
        ("status request", StatusRequest(ref_seq=3)),
        (
            "grievance km with reply key",
            Grievance(
                category=0x21, lang=Lang.KM, text="ខ្ញុំធ្វើការ២០ម៉ោងក្នុងមួយថ្ងៃ", reply_pub=reply_pub
            ),
        ),
        ("reply my", Reply(ref_seq=7, lang=Lang.MY, text="တနင်္လာနေ့ပါ။ အခု ဘေးကင်းပါတယ်။")),
    ]:
        s = session(7)
        s.queue_crew(content, T)
        f = s.frames_to_send(T)[0]
        expect = {
            "seqs": list(f.seqs),
            "content": {
                k: (int(v) if isinstance(v, Lang) else v.hex() if isinstance(v, bytes) else v)
                for k, v in ((a, getattr(content, a)) for a in content.__slots__)  # type: ignore[attr-defined]
            },
        }
        vectors.append(
            {
                "name": name,
                "direction": "uplink",
                "deterministic": False,
                "frame": f.data.hex(),
                "expect": expect,
            }
        )

    acks = [Ack.of(40, [42, 43])]
    ack = pack_downlink(
        shore_sign,
        skid,
        vkid,
        [
            *acks,
            CaseStatus(ref_seq=7, case_ref="C-0042", status=2, note=1),
            Config(version=3, airtime_bytes_per_day=3000, report_interval_s=3600),
        ],
        T,
    )[0]
    vectors.append(
        {
            "name": "ack, status and config",
            "direction": "downlink",
            "deterministic": True,
            "frame": ack.hex(),
            "expect": {"to_kid": vkid.hex(), "time": T, "acks": _acks(acks), "types": [16, 17, 18]},
        }
    )
    # Bit order and an explicit base: LSB of byte 0 is base + 0; a reader that takes the MSB
    # first, or counts from cum_seq instead of base, gets other seqs.
    acks = [Ack.of(100, [102, 109, 117]), Ack.of(5, [300, 301, 315], base=300)]
    ack = pack_downlink(shore_sign, skid, vkid, acks, T)[0]
    vectors.append(
        {
            "name": "acks: bit order and base",
            "direction": "downlink",
            "deterministic": True,
            "frame": ack.hex(),
            "expect": {"to_kid": vkid.hex(), "time": T, "acks": _acks(acks), "types": [16, 16]},
        }
    )
    new_sign = Ed25519PrivateKey.from_private_bytes(seed("shore sign 2"))
    new_seal = X25519PrivateKey.from_private_bytes(seed("shore seal 2"))
    rotation = KeyRotation(
        epoch=1,
        sign_pub=keys.raw_public(new_sign.public_key()),
        seal_pub=keys.raw_public(new_seal.public_key()),
    )
    vectors.append(
        {
            "name": "key rotation",
            "direction": "downlink",
            "deterministic": True,
            "frame": pack_downlink(shore_sign, skid, vkid, [rotation], T)[0].hex(),
            "expect": {
                "to_kid": vkid.hex(),
                "time": T,
                "types": [19],
                "key_rotation": {
                    "epoch": 1,
                    "sign_pub": rotation.sign_pub.hex(),
                    "seal_pub": rotation.seal_pub.hex(),
                },
            },
        }
    )

    s = session(9)
    s.queue_delivered([5, 6], T)
    f = s.frames_to_send(T)[0]
    vectors.append(
        {
            "name": "delivered",
            "direction": "uplink",
            "deterministic": True,
            "frame": f.data.hex(),
            "expect": {"seqs": list(f.seqs)},
        }
    )

    # A shore question sealed to the reply key of grievance 7 (protocol.conversation), in as
    # many MT frames as it takes; open with reply_private_raw after joining the parts.
    question = conversation.ShoreText(
        lang=Lang.MY,
        text="ဒီအဖြစ်အပျက်က ဘယ်နေ့က ဖြစ်ခဲ့တာလဲ။ အခု လုံခြုံရဲ့လား။ "
        "ဆိပ်ကမ်းရောက်ရင် ဖုန်းဆက်လို့ ရနိုင်မလား။ နောက်ဆိပ်ကမ်းကို ဘယ်တော့ ဘယ်မှာ ဆိုက်မလဲ။ "
        "ကပ္ပတိန်က သင့်ရဲ့ ပတ်စပို့ကို ဘယ်နေ့က ယူသွားတာလဲ၊ တခြားဘယ်သူတွေ မြင်ခဲ့လဲ။ "
        "လစာကို နောက်ဆုံး ဘယ်လက ရခဲ့လဲ။ သင့်အတွက် လုံခြုံတာကိုပဲ ပြောပါ။",
    )  # two MT frames
    sealed = conversation.seal_text(question, reply_pub, to_kid=vkid, ref_seq=7, msg_id=5)
    parts = conversation.split(sealed, ref_seq=7, msg_id=5)
    frames = [pack_downlink(shore_sign, skid, vkid, [p], T)[0] for p in parts]
    vectors.append(
        {
            "name": "shore message my",
            "direction": "downlink",
            "deterministic": False,
            "frame": frames[0].hex(),
            "frames": [fr.hex() for fr in frames],
            "expect": {
                "to_kid": vkid.hex(),
                "time": T,
                "ref_seq": 7,
                "msg_id": 5,
                "shore_text": {"lang": int(question.lang), "text": question.text},
            },
        }
    )

    good = bytes.fromhex(vectors[0]["frame"])
    bad = bytearray(good)
    bad[-1] ^= 0x80
    vectors.append(
        {
            "name": "signature bit flipped",
            "direction": "uplink",
            "deterministic": True,
            "frame": bytes(bad).hex(),
            "expect": {"error": "BadSignature"},
        }
    )
    vectors.append(
        {
            "name": "oversize",
            "direction": "uplink",
            "deterministic": True,
            "frame": (good + bytes(341 - len(good))).hex(),
            "expect": {"error": "Oversize"},
        }
    )
    vectors += [
        *_refusals(vessel, vkid, shore_sign, skid, good),
        *_large_frames(session, shore_sign, skid, vkid),
    ]

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


def _large_frames(
    session: Callable[[int], VesselSession],
    shore: Ed25519PrivateKey,
    skid: bytes,
    vkid: bytes,
) -> list[dict[str, object]]:
    """Frames of links larger than an SBD message (wire format §1.1): many messages under one
    signature, a whole message standing for its SBD fragments, and the same bytes refused on
    an SBD link. ``link`` names the link the receiver takes them from."""
    from protocol import links

    s = session(1)
    for i in range(65):
        s.queue_position(time=T + 60 * i, lat=-4.6 + i / 100, lon=55.4, speed_kn=9.6, now=T)
    (many,) = s.frames_to_send(T, limit=links.IP.uplink)
    s = session(7)
    digits = "".join(hashlib.sha256(f"long text {i}".encode()).hexdigest() for i in range(24))
    content = Grievance(category=0x17, lang=Lang.EN, text=digits[:1500])
    items = s.queue_crew(content, T)
    s.queue_heartbeat(T)
    (whole,) = s.frames_to_send(T, limit=links.IMT.uplink)
    statuses = [
        CaseStatus(ref_seq=100 + i, case_ref=f"C-{100 + i:04d}", status=2, note=1)
        for i in range(30)
    ]
    (down,) = pack_downlink(shore, skid, vkid, statuses, T, links.IMT.downlink)
    return [
        {
            "name": "large frame: 65 positions",
            "direction": "uplink",
            "link": "ip",
            "deterministic": True,
            "frame": many.data.hex(),
            "expect": {"seqs": list(many.seqs)},
        },
        {
            "name": "large frame on an SBD link",
            "direction": "uplink",
            "link": "sbd",
            "deterministic": True,
            "frame": many.data.hex(),
            "expect": {"error": "Oversize"},
        },
        {
            "name": "large frame: a whole message for its fragments",
            "direction": "uplink",
            "link": "imt",
            "deterministic": False,
            "frame": whole.data.hex(),
            "expect": {
                "seqs": sorted(whole.seqs),
                "whole": {"seq": 7, "fragments": len(items)},
                "fragments": [m.encoded.hex() for m in items],
                "content": {
                    "category": content.category,
                    "lang": int(content.lang),
                    "text": content.text,
                },
            },
        },
        {
            "name": "large downlink: thirty case updates",
            "direction": "downlink",
            "link": "imt",
            "deterministic": True,
            "frame": down.hex(),
            "expect": {"to_kid": vkid.hex(), "time": T, "types": [17] * 30},
        },
    ]


def _acks(acks: list[Ack]) -> list[dict[str, object]]:
    """Each ack with the seqs it acknowledges written out: every seq ≤ cum_seq, and these."""
    return [
        {
            "cum_seq": a.cum_seq,
            "bitmap": a.bitmap.hex(),
            "base": a.bitmap_base,
            "acknowledged_above_cum_seq": a.seqs(),
        }
        for a in acks
    ]


def _refusals(
    vessel: Ed25519PrivateKey, vkid: bytes, shore: Ed25519PrivateKey, skid: bytes, good: bytes
) -> list[dict[str, object]]:
    """Frames every receiver must refuse, each with the typed error the decoders raise."""
    from protocol import cbor, frame

    heartbeat = [2, 42, T, 0, 41, bytes(8)]
    stranger = Ed25519PrivateKey.from_private_bytes(seed("stranger sign"))
    other_kid = keys.key_id(stranger.public_key())

    def up(payload: object, key: Ed25519PrivateKey = vessel, kid: bytes = vkid) -> str:
        return frame.sign(cbor.dumps(payload), key, kid).hex()

    def down(payload: object, key: Ed25519PrivateKey = shore, kid: bytes = skid) -> str:
        return frame.sign(cbor.dumps(payload), key, kid).hex()

    untagged = cbor.loads(good, what="vector")
    alg_es256 = cbor.dumps([cbor.dumps({1: -7}), *untagged[1:]])
    big_note = CaseStatus(ref_seq=7, case_ref="C-0042", status=2, note=1)
    cases = [
        ("uplink", "unknown payload version", up([2, [heartbeat]]), "UnknownVersion"),
        ("uplink", "unknown device", up([1, [heartbeat]], stranger, other_kid), "UnknownDevice"),
        ("uplink", "truncated", good[:-10].hex(), "Truncated"),
        ("uplink", "trailing byte", (good + b"\x00").hex(), "Malformed"),
        ("uplink", "protected header not EdDSA", alg_es256.hex(), "Malformed"),
        (
            "uplink",
            "heartbeat chain of 7 bytes",
            up([1, [[2, 42, T, 0, 41, bytes(7)]]]),
            "Malformed",
        ),
        (
            "downlink",
            "downlink oversize (271 bytes)",
            _padded_downlink(shore, skid, vkid, big_note, 271),
            "Oversize",
        ),
        ("downlink", "downlink unknown payload version", down([2, vkid, T, []]), "UnknownVersion"),
        (
            "downlink",
            "downlink for another device",
            down([1, other_kid, T, [cbor.loads(encode_message(Ack.of(3, [])), what="ack")]]),
            "WrongRecipient",
        ),
        (
            "downlink",
            "downlink signed by the vessel key",
            down(
                [1, vkid, T, [cbor.loads(encode_message(Ack.of(3, [])), what="ack")]], vessel, vkid
            ),
            "BadSignature",
        ),
    ]
    return [
        {
            "name": name,
            "direction": direction,
            "deterministic": True,
            "frame": hexed,
            "expect": {"error": error},
        }
        for direction, name, hexed, error in cases
    ]


def _padded_downlink(
    shore: Ed25519PrivateKey, skid: bytes, vkid: bytes, msg: CaseStatus, size: int
) -> str:
    """A well-formed, shore-signed downlink frame of exactly *size* bytes (above the MT limit)."""
    from protocol import cbor, frame

    for pad in range(size):
        filler = [99, "x" * pad]  # a message of an unknown type: well-formed, ignored
        payload = cbor.dumps([1, vkid, T, [cbor.loads(encode_message(msg), what="msg"), filler]])
        data = frame.sign(payload, shore, skid)
        if len(data) == size:
            return data.hex()
    raise AssertionError(f"no padding gives {size} bytes")


def text_vectors() -> None:
    """tests/protocol/vectors/text.json: every codec (0x00–0x03, 0x12, 0x13) and every refusal."""
    import zlib

    from protocol import scsu
    from protocol.dictionaries import SHA256, digest, load
    from protocol.lang import lang_from_tag
    from protocol.text import DICT_VERSION, encode_text

    def deflate(data: bytes) -> bytes:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
        return comp.compress(data) + comp.flush()

    # The published texts stay (their bytes must not churn); new ones are appended.
    published = json.loads(TEXT_OUT.read_text("utf-8"))["vectors"] if TEXT_OUT.exists() else []
    texts = [(lang_from_tag(v["lang"]), v["text"]) for v in published if not v.get("decode_only")]
    for extra in [
        (Lang.UND, "Москва"),  # stored SCSU (0x01)
        (Lang.UND, "陳船長🙏 화나😡 ok"),  # broke the SCSU encoder the codec used before
    ]:
        if extra not in texts:
            texts.append(extra)
    vectors: list[dict[str, object]] = []
    for lang, text in texts:
        vectors.append({"lang": lang.tag, "text": text, "hex": encode_text(text, lang).hex()})
    # encode_text never writes version 0 (deflate without a dictionary): decode-only vectors.
    for lang, text, method, body in [
        (Lang.MY, "ကျွန်တော်တို့ အိမ်ပြန်ချင်တယ်။", 0x02, lambda t: deflate(t.encode())),
        (Lang.MY, "ကျွန်တော်တို့ အိမ်ပြန်ချင်တယ်။", 0x03, lambda t: deflate(scsu.encode(t))),
    ]:
        vectors.append(
            {
                "lang": lang.tag,
                "text": text,
                "hex": (bytes([method]) + body(text)).hex(),
                "decode_only": True,
            }
        )
    hello = deflate(b"hello")
    bomb = deflate(b"A" * 20_000)
    refusals = [
        ("empty: no codec byte", "", "BadText"),
        ("method 4 (reserved bits set)", "04616263", "BadText"),
        ("stored with a dictionary version", "10616263", "BadText"),
        ("unknown dictionary version 2", "22" + hello.hex(), "BadText"),
        ("deflate stream cut short", "02" + hello[:-1].hex(), "BadText"),
        ("bytes after the deflate stream", "02" + hello.hex() + "00", "BadText"),
        ("invalid UTF-8 (a surrogate)", "00eda080", "BadText"),
        ("SCSU: lone high surrogate (SQU D800)", "010ed800", "BadText"),
        ("SCSU: reserved tag 0x0C", "010c", "BadText"),
        ("U+0000 in the text", "006100", "BadText"),
        ("inflates to 20,000 bytes (> 4 × 4,096 + 16)", "02" + bomb.hex(), "Oversize"),
    ]
    doc = {
        "about": "Golden vectors of protocol.text (docs/wire-format.md §5): (lang, text) -> hex "
        "of codec byte + body; decode_only vectors are not what encode_text writes; "
        "refusals must raise the named error. Regenerate only with a DICT_VERSION bump.",
        "dict_version": DICT_VERSION,
        "dictionaries_sha256": digest(load(DICT_VERSION)),
        "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
        "vectors": vectors,
        "refusals": [{"name": n, "lang": "en", "hex": h, "error": e} for n, h, e in refusals],
    }
    assert doc["dictionaries_sha256"] == SHA256[DICT_VERSION]
    TEXT_OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} text vectors and {len(refusals)} refusals to {TEXT_OUT.name}")


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
        note = VoiceNote(
            category=0x17, lang=lang, mode=code, duration_ms=ms, frames=frames, pseudonym=pseudonym
        )
        content: dict[str, object] = {
            "category": 0x17,
            "lang": int(lang),
            "codec": 1,
            "mode": code,
            "duration_ms": ms,
            "frames": [f.hex() for f in frames],
        }
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
    s = VesselSession(
        sign_key=vessel,
        shore_sign_pub=shore_sign.public_key(),
        shore_seal_pub=shore_seal.public_key(),
        next_seq=9,
    )
    code, frames = tone_frames("700C", 1000)
    s.queue_crew(
        VoiceNote(category=0x31, lang=Lang.ID, mode=code, duration_ms=1000, frames=frames), T
    )
    f = s.frames_to_send(T)[0]
    doc = {
        "about": "flip-sync voice notes (crew content kind 5), see docs/wire-format.md; "
        "plaintexts are exact, the sealed frame (keys of frames.json) is decode-only",
        "vectors": vectors,
        "sealed_frame": {
            "frame": f.data.hex(),
            "seqs": list(f.seqs),
            "duration_ms": 1000,
            "frames": [x.hex() for x in frames],
        },
    }
    VOICE_OUT.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} voice vectors and a sealed frame to {VOICE_OUT.name}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["voice"]:  # only the voice vectors (frames.json keeps its sealed bytes)
        voice_vectors()
    elif sys.argv[1:] == ["text"]:  # only the text codec vectors
        text_vectors()
    else:
        main()
        voice_vectors()
        text_vectors()
