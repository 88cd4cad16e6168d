"""The crew app's server without a browser: a Python stand-in seals requests as the page does.

Proves: crew input is opened in memory and sealed to the shore by Device.submit (the words reach
the shore intact and never the outbox or its WAL); every crew action and every answer crosses
the network as padded ciphertext; forged, replayed, cross-site, oversize and malformed requests
are refused with a 4xx and the server keeps serving; rate limits; nothing is listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import keys
from protocol.crew import Grievance
from protocol.messages import CrewMessage, decode_message
from protocol.seal import seal
from protocol.shore import open_crew
from tests.vessel_agent.conftest import AgentFixture, make_agent_dir
from tests.vessel_agent.crewapp.client import HEADERS, Page, boot, raw, sealed_request
from vessel_agent import inbox, receipt, replykey
from vessel_agent.crewapp import intake
from vessel_agent.crewapp.server import CSP, CrewServer, parse_address, serve
from vessel_agent.device import Device

BURMESE = "ကျွန်တော်တို့ လစာ သုံးလ မရသေးပါဘူး။"
KHMER = "ខ្ញុំមិនបានទទួលប្រាក់ខែបីខែហើយ"
THAI = "ไม่ได้รับค่าจ้างสามเดือนแล้ว"
FIXTURE = HealthCheck.function_scoped_fixture


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AgentFixture, CrewServer]]:
    fx = make_agent_dir(tmp_path)
    # Limits are tested on their own below; here they must not hide the other answers.
    server = serve(str(fx.dir), ("127.0.0.1", 0), requests_per_min=100_000, submits_per_10min=1000)
    try:
        yield fx, server
    finally:
        server.close()


def opened(fx: AgentFixture, seq: int) -> Any:
    with Device(str(fx.dir)) as dev:
        row = dev.outbox.db.execute("SELECT encoded FROM messages WHERE seq = ?", (seq,)).fetchone()
        msg = decode_message(row[0])
        assert isinstance(msg, CrewMessage)
        return open_crew(msg, fx.kid, [fx.shore.seal])


def seq_of(fx: AgentFixture, code: str) -> int:
    with Device(str(fx.dir)) as dev:
        view = dev.lookup(code)
        assert view is not None
        return view.seq


def test_words_reach_the_sealed_grievance_intact_and_never_the_disk(app: Any) -> None:
    fx, server = app
    page = Page(server.url)
    reply_pub = bytes(range(32))
    for lang, text, category in (("my", BURMESE, 0x17), ("km", KHMER, 0x1A), ("th", THAI, 0xF1)):
        done = page.call("submit", category=category, lang=lang, text=text,
                         reply_pub=reply_pub.hex())  # fmt: skip
        assert done["ok"] is True and done["urgent"] is (category == 0xF1)
        assert done["frames"] >= 1
        content = opened(fx, seq_of(fx, done["receipt"]))
        assert isinstance(content, Grievance)
        assert (content.text, content.category, content.lang.tag) == (text, category, lang)
        assert content.reply_pub == reply_pub
    page.close()
    disk = b"".join(p.read_bytes() for p in fx.dir.iterdir() if p.name.startswith("outbox.db"))
    for text in (BURMESE, KHMER, THAI):
        assert text.encode() not in disk
        assert text.encode("utf-16-le") not in disk
    # Every request and answer on the wire: padded ciphertext, never the words or the code.
    for body in page.sent:
        assert (len(body) - 48) % intake.PAD_TO == 0
        for text in (BURMESE, KHMER, THAI):
            assert text.encode() not in body


def test_lookup_ask_and_withdraw_by_receipt_only(app: Any) -> None:
    fx, server = app
    page = Page(server.url)
    code = page.call("submit", category=0x17, lang="en", text="no pay")["receipt"]
    assert page.call("lookup", receipt=code) == {
        "ok": True, "delivery": "queued", "case": None, "notes": []
    }  # fmt: skip
    assert page.call("lookup", receipt=code.replace("-", " "))["ok"] is True
    assert page.call("lookup", receipt="00000-00000") == {"ok": False, "error": "ui.not_found"}
    assert page.call("lookup", receipt="123") == {"ok": False, "error": "ui.bad_code"}
    assert page.call("ask", receipt=code) == {"ok": True}
    assert page.call("withdraw", receipt="00000-00001") == {"ok": False, "error": "ui.not_found"}
    assert page.call("withdraw", receipt=code) == {"ok": True}
    with Device(str(fx.dir)) as dev:
        kinds = [
            open_crew(m, fx.kid, [fx.shore.seal]).__class__.__name__
            for (data,) in dev.outbox.db.execute("SELECT encoded FROM messages ORDER BY seq")
            if isinstance(m := decode_message(data), CrewMessage)
        ]
    assert kinds == ["Grievance", "StatusRequest", "Withdraw"]
    page.close()


def test_a_phone_derives_its_reply_key_from_a_code_reserved_for_it(app: Any) -> None:
    fx, server = app
    page = Page(server.url)
    r = page.call("reserve")
    assert r["ok"] is True and r["n"] == receipt.SCRYPT_N and r["r"] == receipt.SCRYPT_R
    salt = bytes(range(16))
    mat = replykey.material(r["receipt"], bytes.fromhex(r["salt"]), r["n"])
    pub = keys.raw_public(replykey.from_material(mat, salt).public_key())
    fields = {"category": 0x17, "lang": "my", "text": BURMESE, "reply_salt": salt.hex()}
    done = page.call("submit", receipt=r["receipt"], reply_pub=pub.hex(), **fields)
    assert done["ok"] is True and done["receipt"] == r["receipt"]
    seq = seq_of(fx, r["receipt"])
    assert opened(fx, seq).reply_pub == pub
    with Device(str(fx.dir)) as dev:  # the code alone re-makes the key on the box
        record = inbox.key_record(dev.outbox, seq)
        assert record is not None and record.salt == salt
    # A reserved code is spent by its report; a code never reserved here is refused.
    for code in (r["receipt"], "12345-67890", 7):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            page.call("submit", receipt=code, **fields)
        assert refused.value.response.status_code == 400
        assert "reserved" in refused.value.response.json()["error"]
    # A key that does not derive from the code is refused, and nothing is queued.
    other = page.call("reserve")["receipt"]
    wrong = page.call("submit", receipt=other, reply_pub=pub.hex(), **fields)
    assert wrong == {"ok": False, "error": "ui.failed"}
    with Device(str(fx.dir)) as dev:
        assert dev.lookup(other) is None
    page.close()


def test_wrong_codes_are_throttled(app: Any) -> None:
    _, server = app
    page = Page(server.url)
    answers = [page.call("lookup", receipt=f"00000-0000{i}")["error"] for i in range(7)]
    assert answers[:5] == ["ui.not_found"] * 5
    assert answers[5:] == ["ui.locked"] * 2
    page.close()


def test_every_answer_carries_the_csp_and_nothing_is_listed(app: Any) -> None:
    _, server = app
    with httpx.Client(base_url=server.url) as http:
        for path in ("/", "/app.js", "/app.css", "/i18n/my.json", "/sizes.json",
                     "/fonts/fonts.css", "/fonts/NotoSansMyanmar.woff2", "/licenses.txt",
                     "/api/v1/hello", "/nope", "/fonts/", "/i18n/", "/api/v1/crew"):  # fmt: skip
            r = http.get(path)
            assert r.headers["content-security-policy"] == CSP, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
        assert http.get("/fonts/").status_code == 404
        assert http.get("/api/v1/crew").status_code == 404
        assert http.get("/../agent.toml").status_code == 404
        assert http.get("/fonts/../../agent.toml").status_code == 404
        assert http.request("PUT", "/").status_code == 405
        assert http.get("/api/v1/hello").headers["cache-control"] == "no-store"
        assert "default-src 'none'" in CSP and "http" not in CSP  # no other origin allowed
        js = http.get("/app.js", headers={"Accept-Encoding": "gzip"})
        assert js.status_code == 200 and js.headers.get("content-encoding") == "gzip"
        etag = js.headers["etag"]
        assert http.get("/app.js", headers={"If-None-Match": etag}).status_code == 304


def test_cross_site_forged_replayed_and_oversize_posts_are_refused(app: Any) -> None:
    _, server = app
    page = Page(server.url)
    http = page.http

    def post(body: bytes, **headers: str) -> httpx.Response:
        return http.post("/api/v1/crew", content=body, headers={**HEADERS, **headers})

    good, _ = sealed_request(page.intake_pub, "submit", page.token(), category=0x17, lang="en")
    assert post(good, **{"X-Flip-Crew": ""}).status_code == 403
    assert post(good, **{"Content-Type": "text/plain"}).status_code == 403
    assert post(good, **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert post(good, Origin="http://evil.example").status_code == 403
    assert post(good).status_code == 200
    replay = post(good)  # the same sealed request again: its token is spent
    assert replay.status_code == 400 and "token" in replay.json()["error"]
    assert post(b"x" * (intake.MAX_SEALED + 1)).status_code == 413
    stranger = keys.raw_public(X25519PrivateKey.generate().public_key())  # not this box's key
    forged, _ = sealed_request(stranger, "submit", page.token())
    assert post(forged).status_code == 400
    bad_op, _ = sealed_request(page.intake_pub, "list", page.token())
    assert "unknown action" in post(bad_op).json()["error"]
    for fields in ({"category": 0x01, "lang": "en"}, {"category": 0x17, "lang": "xx"},
                   {"category": "17", "lang": "en"}, {"category": 0x17, "lang": "en",
                                                      "text": "x" * 2001}):  # fmt: skip
        body, _ = sealed_request(page.intake_pub, "submit", page.token(), **fields)
        assert post(body).status_code == 400, fields
    assert http.get("/").status_code == 200  # still serving
    page.close()


@settings(max_examples=50, deadline=None, suppress_health_check=[FIXTURE])
@given(body=st.binary(min_size=1, max_size=2048))
def test_arbitrary_bodies_get_a_clear_4xx_and_the_server_keeps_serving(
    app: Any, body: bytes
) -> None:
    _, server = app
    status, _, answer = raw(server.url, "POST", "/api/v1/crew", body, HEADERS)
    assert status == 400
    assert isinstance(json.loads(answer)["error"], str)
    assert raw(server.url, "GET", "/i18n/en.json")[0] == 200


@settings(max_examples=30, deadline=None, suppress_health_check=[FIXTURE])
@given(payload=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
))  # fmt: skip
def test_arbitrary_sealed_json_is_refused_or_answered_never_crashes(app: Any, payload: Any) -> None:
    """Sealed with the right key and a valid token, but any JSON at all inside."""
    _, server = app
    intake_pub = bytes.fromhex(boot(server.url)["intake_pub"])
    token = json.loads(raw(server.url, "GET", "/api/v1/hello")[2])["token"]
    resp = X25519PrivateKey.generate()
    if isinstance(payload, dict):
        payload = {**payload, "token": token,
                   "resp_pub": keys.raw_public(resp.public_key()).hex()}  # fmt: skip
    body = json.dumps(payload).encode()
    sealed = seal(body, keys.seal_public_from_raw(intake_pub), intake.INFO_REQUEST)
    status, _, answer = raw(server.url, "POST", "/api/v1/crew", sealed, HEADERS)
    assert status in (200, 400)
    if status != 200:
        assert json.loads(answer)["error"]


def test_requests_per_client_are_rate_limited(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    server = serve(str(fx.dir), ("127.0.0.1", 0), requests_per_min=5, submits_per_10min=2)
    try:
        page = Page(server.url)
        assert page.call("submit", category=0x17, lang="en")["ok"]  # 2 requests (token, post)
        assert page.call("submit", category=0x17, lang="en")["ok"]  # 4
        r = page.http.get("/api/v1/hello")  # 5th: allowed
        assert r.status_code == 200
        assert page.http.get("/api/v1/hello").status_code == 429
        page.close()
    finally:
        server.close()
    server = serve(str(fx.dir), ("127.0.0.1", 0), submits_per_10min=1)
    try:
        page = Page(server.url)
        assert page.call("submit", category=0x17, lang="en")["ok"]
        with pytest.raises(httpx.HTTPStatusError) as err:
            page.call("submit", category=0x17, lang="en")
        assert err.value.response.status_code == 429
        assert page.call("lookup", receipt="12345-67890")["error"] == "ui.not_found"
        page.close()
    finally:
        server.close()


def test_intake_key_made_by_init_and_on_first_run_private_to_the_box(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    path = fx.dir / intake.INTAKE_KEY
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_bytes()
    path.unlink()  # a directory made before the crew app existed
    server = serve(str(fx.dir), ("127.0.0.1", 0))
    server.close()
    assert path.exists() and path.read_bytes() != first
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"not a key")
    from vessel_agent.errors import ConfigError

    with pytest.raises(ConfigError, match=r"crew_intake\.pem"):
        serve(str(fx.dir), ("127.0.0.1", 0))


def test_parse_address() -> None:
    assert parse_address("") is None
    assert parse_address("  ") is None
    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:0") == ("0.0.0.0", 0)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    for bad in ("8080", "host:", "host:x", "h:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_address(bad)


def test_the_meter_table_is_made_with_the_real_codec_and_framing(app: Any) -> None:
    import time

    from protocol.lang import lang_from_tag
    from protocol.vessel import VesselSession
    from vessel_agent.crewapp import sizes

    _, server = app
    deadline = time.monotonic() + 60
    while (r := httpx.get(server.url + "sizes.json")).status_code == 503:
        assert r.json()["error"] and time.monotonic() < deadline
        time.sleep(0.1)
    table = r.json()
    assert table == json.loads(json.dumps(sizes.table()))
    assert table["frame_bytes"] == 340 and table["step"] == sizes.STEP
    for lang, row in table["frames"].items():
        assert len(row) == sizes.MAX_CHARS // sizes.STEP + 1
        assert row[0] == 1 and row == sorted(row), lang
        assert 2 <= row[-1] <= 32, lang  # 2,000 characters need fragments, within the limit
    # One entry recomputed independently with a fresh session and other keys.
    with Device(str(app[0].dir)) as dev:
        session: VesselSession = dev.session
        text = sizes._sample("km", 800).strip()
        items = session.queue_crew(Grievance(category=0x17, lang=lang_from_tag("km"), text=text),
                                   1_700_000_000)  # fmt: skip
    assert len(items) == table["frames"]["km"][800 // sizes.STEP]


def test_urgent_reports_have_a_wider_limit_than_routine_ones(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    server = serve(str(fx.dir), ("127.0.0.1", 0), submits_per_10min=1)
    try:
        page = Page(server.url)
        assert page.call("submit", category=0x17, lang="en")["ok"]
        with pytest.raises(httpx.HTTPStatusError) as err:
            page.call("submit", category=0x17, lang="en")  # routine: over the limit
        assert err.value.response.status_code == 429
        for _ in range(3):  # urgent: still taken, up to three times the routine limit
            assert page.call("submit", category=0xF0, lang="en")["urgent"] is True
        with pytest.raises(httpx.HTTPStatusError):
            page.call("submit", category=0xF0, lang="en")
        page.close()
    finally:
        server.close()


def test_many_phones_at_once_are_all_served(app: Any) -> None:
    """A browser opens up to 6 keep-alive connections per host: 20 phones loading together
    open ~120. Every one is answered, twice on the same connection."""
    import http.client
    import threading

    _, server = app
    host, port = server.server_address[:2]
    statuses: list[int] = []
    lock = threading.Lock()
    start, held = threading.Barrier(120), threading.Barrier(120, timeout=30)

    def phone_connection() -> None:
        conn = http.client.HTTPConnection(str(host), int(port), timeout=30)
        try:
            start.wait()
            for path in ("/app.css", "/i18n/my.json"):
                try:
                    conn.request("GET", path)
                    r = conn.getresponse()
                    r.read()
                    status = r.status
                except OSError:
                    status = 0
                with lock:
                    statuses.append(status)
                if path == "/app.css":
                    held.wait()  # all 120 connections open at once before the second request
        finally:
            conn.close()

    threads = [threading.Thread(target=phone_connection) for _ in range(120)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 240
