"""Conversation benchmark: MT bytes of a 100-character question from shore, in each language.

The question is the start of the common questions (``shore_gateway/cases/questions.json``) in
that language, joined and cut to exactly 100 characters — the words staff actually send. It is
sealed to a reply key and split into MT parts exactly as the gateway does
(:func:`shore_gateway.cases.conversation.ask`), each part signed in its own downlink frame (what
:func:`protocol.shore.pack_downlink` makes of them). Side by side in the same run: the same
question with its text stored as plain UTF-8 (codec 0x00), to show what the text codec saves.

Iridium bills MT by message and RockBLOCK by 50-byte credit; both are reported.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import cbor, conversation, keys, seal
from protocol.lang import Lang, lang_from_tag
from protocol.shore import pack_downlink

QUESTIONS = Path(__file__).resolve().parent.parent / "shore_gateway" / "cases" / "questions.json"
LANGS = ["en", "my", "th", "km", "id", "vi", "tl"]
CHARS = 100
T = 1_763_640_000
U32 = 2**32 - 1


def question(lang: str) -> str:
    doc = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    texts = [q["text"][lang] for q in doc["questions"].values()]
    text = " ".join(texts)
    while len(text) < CHARS:
        text += " " + text
    return text[:CHARS]


def _frames(sealed: bytes, shore: Ed25519PrivateKey, to_kid: bytes) -> list[bytes]:
    parts = conversation.split(sealed, ref_seq=U32, msg_id=U32)
    skid = keys.key_id(shore.public_key())
    return [f for p in parts for f in pack_downlink(shore, skid, to_kid, [p], T)]


def run() -> dict[str, Any]:
    shore = Ed25519PrivateKey.from_private_bytes(bytes(32))
    reply = X25519PrivateKey.from_private_bytes(bytes(range(32)))
    pub = keys.raw_public(reply.public_key())
    to_kid = bytes(4)
    rows: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for tag in LANGS:
        text = question(tag)
        lang = lang_from_tag(tag) if tag != "und" else Lang.UND
        sealed = conversation.seal_text(
            conversation.ShoreText(lang=lang, text=text),
            pub,
            to_kid=to_kid,
            ref_seq=U32,
            msg_id=U32,
        )
        frames = _frames(sealed, shore, to_kid)
        plain_pt = cbor.dumps([int(lang), b"\x00" + text.encode()])
        plain = seal.seal(plain_pt, reply.public_key(), conversation.shore_info(to_kid, U32, U32))
        plain_frames = _frames(plain, shore, to_kid)
        mt = sum(len(f) for f in frames)
        mt_plain = sum(len(f) for f in plain_frames)
        row = {
            "lang": tag,
            "chars": len(text),
            "utf8_bytes": len(text.encode()),
            "sealed_bytes": len(sealed),
            "mt_messages": len(frames),
            "mt_bytes": mt,
            "credits_50b": sum(math.ceil(len(f) / 50) for f in frames),
            "mt_bytes_utf8_stored": mt_plain,
            "mt_messages_utf8_stored": len(plain_frames),
            "ratio_to_utf8_stored": round(mt / mt_plain, 3),
        }
        rows.append(row)
        results.append(
            {
                "metric": f"MT bytes per 100-char question, {tag} (messages; vs UTF-8 stored)",
                "value": f"{mt} ({len(frames)}; {row['ratio_to_utf8_stored']})",
                "target": "report",
                "met": None,
            }
        )
    worst = max(r["mt_messages"] for r in rows)
    results.append(
        {
            "metric": "MT messages per 100-char question, worst language",
            "value": worst,
            "target": "≤ 2",
            "met": worst <= 2,
        }
    )
    return {"name": "conversation", "results": results, "rows": rows}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
