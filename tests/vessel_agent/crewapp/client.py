"""A Python stand-in for the page: seals requests exactly as web/src/app.js does."""

from __future__ import annotations

import json
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import keys
from protocol.seal import open_sealed, seal
from vessel_agent.crewapp.intake import INFO_REPLY, INFO_REQUEST, PAD_TO

HEADERS = {"Content-Type": "application/octet-stream", "X-Flip-Crew": "1"}


def boot(base: str) -> dict[str, Any]:
    page = raw(base, "GET", "/")[2].decode()
    start = page.index('id="boot">') + len('id="boot">')
    data: dict[str, Any] = json.loads(page[start : page.index("</script>", start)])
    return data


def sealed_request(intake_pub: bytes, op: str, token: str, **fields: Any) -> tuple[bytes, Any]:
    resp = X25519PrivateKey.generate()
    body = json.dumps(
        {"op": op, "token": token, "resp_pub": keys.raw_public(resp.public_key()).hex(), **fields},
        ensure_ascii=False,
    ).encode()
    body += b" " * (-len(body) % PAD_TO)
    return seal(body, keys.seal_public_from_raw(intake_pub), INFO_REQUEST), resp


def raw(
    base: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with the stdlib client (an httpx.Client costs ~0.4 s to make here)."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


class Page:
    """One browser tab: fetches tokens, seals, posts, opens answers."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=10)
        self.intake_pub = bytes.fromhex(boot(base)["intake_pub"])
        self.sent: list[bytes] = []

    def close(self) -> None:
        self.http.close()

    def token(self) -> str:
        r = self.http.get("/api/v1/hello")
        r.raise_for_status()
        return str(r.json()["token"])

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        sealed, resp = sealed_request(self.intake_pub, op, self.token(), **fields)
        self.sent.append(sealed)
        r = self.http.post("/api/v1/crew", content=sealed, headers=HEADERS)
        r.raise_for_status()
        answer: dict[str, Any] = json.loads(open_sealed(r.content, [resp], INFO_REPLY))
        return answer
