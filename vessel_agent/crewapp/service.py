"""What the crew app does with an opened request: the same Device calls as the terminal.

One worker thread owns a :class:`~vessel_agent.device.Device` (its own SQLite connection, like
``flip vessel submit`` or the terminal in another process; the agent loop picks new messages up
from the outbox on its next step). Every sealed request is opened, acted on and answered in that
thread, so the outbox sees one writer from this process and the plaintext exists only inside one
call: it is sealed to the shore by :meth:`Device.submit` — the single submit path every entry
point uses — before anything is written.

Limits (per client address, in memory): requests per minute, submits per ten minutes, and the
terminal's wrong-receipt :class:`~vessel_agent.receipt.Throttle`, plus one shared throttle across
all clients so that many addresses cannot guess receipts faster than one.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.errors import LocalProtocolError
from protocol.lang import Lang, lang_from_tag
from vessel_agent import receipt, replykey
from vessel_agent.crewapp import talk
from vessel_agent.crewapp.intake import (
    BadRequest,
    Request,
    hex_field,
    open_request,
    open_voice_request,
    seal_reply,
)
from vessel_agent.device import Device
from vessel_agent.errors import LookupLocked, OutboxError, OutboxFull, ReceiptError
from vessel_agent.i18n import GROUPS, LANGS, URGENT
from vessel_agent.receipt import Throttle

CATEGORIES = frozenset([*URGENT, *(c for _, codes in GROUPS for c in codes)])
MAX_TEXT = 2000
TOKEN_TTL_S = 1800.0
MAX_TOKENS = 1024
MAX_CLIENTS = 512
#: Voice errors the crew member is told about, by class name (vessel_agent.voice loads numpy,
#: soundfile, soxr and pycodec2 — about 15 MB — so it is imported only when a note arrives).
VOICE_ERRORS = {
    "TooShort": "app.voice_short",
    "TooLong": "app.voice_long",
    "Silent": "app.voice_silent",
    "Clipped": "app.voice_loud",
}


class Limited(Exception):
    """Too many requests from this client; the message is safe to show."""


class Window:
    """At most ``limit`` events per ``span_s`` per client (sliding window, bounded clients)."""

    def __init__(self, limit: int, span_s: float) -> None:
        self.limit, self.span_s = limit, span_s
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, client: str, now: float) -> bool:
        """Record one event; False when it is over the limit (then not recorded)."""
        times = self._seen.pop(client, None) or deque()
        while times and times[0] <= now - self.span_s:
            times.popleft()
        self._seen[client] = times
        while len(self._seen) > MAX_CLIENTS:
            self._seen.popitem(last=False)
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


class CrewService:
    """Tokens, limits and the worker that opens requests and calls the Device."""

    def __init__(
        self,
        path: str,
        key: X25519PrivateKey,
        *,
        clock: Callable[[], float] = time.monotonic,
        submits_per_10min: int = 10,
        requests_per_min: int = 60,
    ) -> None:
        self.path = path
        self.key = key
        self.clock = clock
        self._device: Device | None = None
        self._lock = threading.Lock()
        self._tokens: OrderedDict[str, float] = OrderedDict()
        # Receipt codes handed to phones that derive their reply key from the code before they
        # send (op "reserve"): in memory only, single-use, expiring like tokens.
        self._reserved: OrderedDict[str, float] = OrderedDict()
        self.requests = Window(requests_per_min, 60.0)
        self.submits = Window(submits_per_10min, 600.0)
        # Urgent reports have their own, wider window: after an incident several crew may report
        # it from one screen, and an urgent report refused by a limit is the worst outcome.
        self.urgent_submits = Window(3 * submits_per_10min, 600.0)
        self._throttles: OrderedDict[str, Throttle] = OrderedDict()
        self.shared = Throttle(limit=20, pause_s=60.0)
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="crewapp", initializer=self._open
        )

    def _open(self) -> None:
        self._device = Device(self.path)

    @property
    def device(self) -> Device:
        assert self._device is not None, "only the worker thread uses the device"
        return self._device

    def close(self) -> None:
        def close() -> None:
            if self._device is not None:
                self._device.close()
                self._device = None

        self._worker.submit(close).result()
        self._worker.shutdown(wait=True)

    # --- tokens ---------------------------------------------------------------------------

    def token(self, client: str) -> str:
        """A fresh single-use token for one sealed request (the page fetches one per action).

        Raises:
            Limited: this client asked too often.
        """
        now = self.clock()
        if not self.requests.hit(client, now):
            raise Limited("too many requests; wait a minute")
        with self._lock:
            token = secrets.token_urlsafe(18)
            self._tokens[token] = now + TOKEN_TTL_S
            while len(self._tokens) > MAX_TOKENS:
                self._tokens.popitem(last=False)
            return token

    def _spend(self, token: str, now: float) -> bool:
        with self._lock:
            expiry = self._tokens.pop(token, None)
        return expiry is not None and expiry >= now

    def _reserve(self, now: float) -> dict[str, Any]:
        """A receipt code for the next report from this page, with what the page needs to
        derive the reply key from it (:mod:`vessel_agent.replykey`): the device salt and N."""
        code = receipt.new_code(secrets.token_bytes)
        self._reserved[code] = now + TOKEN_TTL_S
        while len(self._reserved) > MAX_TOKENS:
            self._reserved.popitem(last=False)
        return {
            "ok": True,
            "receipt": code,
            "salt": self.device.outbox.salt(secrets.token_bytes).hex(),
            "n": receipt.SCRYPT_N,
            "r": receipt.SCRYPT_R,
        }

    def _reply_fields(self, f: dict[str, Any], now: float) -> dict[str, Any]:
        """The reply key fields of a submit: ``receipt`` (a reserved code, spent here) with
        ``reply_salt`` and ``reply_pub`` (derived on the phone), or ``reply_pub`` alone, or none
        (the agent derives the key from a fresh code).

        Raises:
            BadRequest: a code this page did not reserve, or already used, or expired.
        """
        out: dict[str, Any] = {}
        if f.get("reply_pub") is not None:
            out["reply_pub"] = hex_field(f["reply_pub"], "reply_pub")
        if f.get("receipt") is None:
            if f.get("reply_salt") is not None:
                raise BadRequest("reply_salt goes with a receipt code reserved for this report")
            return out
        code = f["receipt"]
        expiry = self._reserved.pop(code, None) if isinstance(code, str) else None
        if expiry is None or expiry < now:
            raise BadRequest("receipt code not reserved here, used or expired; reload the page")
        out["code"] = code
        if f.get("reply_salt") is not None:
            out["reply_salt"] = hex_field(f["reply_salt"], "reply_salt", replykey.SALT_LEN)
        return out

    def hello(self) -> dict[str, Any]:
        """Figures the page's meter needs (no crew content): budget and queued bytes."""
        return self._worker.submit(self._hello).result()

    def _hello(self) -> dict[str, Any]:
        stats = self.device.outbox.stats()
        return {
            "budget_per_day": self.device.airtime_bytes_per_day,
            "pending_bytes": stats.pending_bytes,
        }

    # --- requests -------------------------------------------------------------------------

    def handle(self, sealed: bytes, client: str) -> bytes:
        """Open, act, seal the answer. Runs in the worker thread.

        Raises:
            BadRequest: malformed, forged, replayed or expired (nothing was done).
            Limited: over a rate limit (nothing was done).
        """
        return self._worker.submit(self._handle, sealed, client).result()

    def _handle(self, sealed: bytes, client: str) -> bytes:
        now = self.clock()
        if not self.requests.hit(client, now):
            raise Limited("too many requests; wait a minute")
        req = open_request(sealed, self.key)
        if not self._spend(req.token, now):
            raise BadRequest("unknown, used or expired token; reload the page")
        if req.op == "submit":
            self._may_submit(client, now, req.fields.get("category"))
        reply = self._act(req, client, now)
        try:
            return seal_reply(reply, req.resp_pub)
        except ValueError:  # a low-order resp_pub: no shared secret
            raise BadRequest("resp_pub is not a usable X25519 key") from None

    def handle_voice(self, sealed: bytes, client: str) -> bytes:
        """A recorded voice note: open, encode to Codec2 and seal to the shore in memory
        (:meth:`Device.submit`), answer sealed. Same limits, tokens and errors as :meth:`handle`."""
        return self._worker.submit(self._handle_voice, sealed, client).result()

    def _handle_voice(self, sealed: bytes, client: str) -> bytes:
        now = self.clock()
        if not self.requests.hit(client, now):
            raise Limited("too many requests; wait a minute")
        req, audio = open_voice_request(sealed, self.key)
        if not self._spend(req.token, now):
            raise BadRequest("unknown, used or expired token; reload the page")
        self._may_submit(client, now, req.fields.get("category"))
        reply = self._submit_voice(req.fields, audio, now)
        try:
            return seal_reply(reply, req.resp_pub)
        except ValueError:
            raise BadRequest("resp_pub is not a usable X25519 key") from None

    def _submit_voice(self, f: dict[str, Any], audio: bytes, now: float) -> dict[str, Any]:
        category, lang = self._category_lang(f)
        rate = f.get("rate")
        if type(rate) is not int:
            raise BadRequest("rate must be a number")
        extra = self._reply_fields(f, now)
        from vessel_agent import voice

        try:
            encoded = voice.encode(audio, rate=rate)
        except voice.VoiceError as exc:  # the crew member is told why, in their language
            return {"ok": False, "error": VOICE_ERRORS.get(type(exc).__name__, "app.voice_bad")}
        try:
            done = self.device.submit(category=category, lang=lang, voice=encoded, **extra)
        except OutboxFull:
            return {"ok": False, "error": "ui.full"}
        except (OutboxError, LocalProtocolError, ReceiptError):
            return {"ok": False, "error": "ui.failed"}
        return {
            "ok": True,
            "receipt": done.receipt,
            "urgent": done.urgent,
            "frames": done.fragments,
            "duration_s": encoded.duration_ms / 1000,
        }

    def _category_lang(self, f: dict[str, Any]) -> tuple[int, Lang]:
        category, lang = f.get("category"), f.get("lang")
        if not isinstance(category, int) or isinstance(category, bool):
            raise BadRequest("category must be a number")
        if category not in CATEGORIES:
            raise BadRequest("not a category crew can choose")
        if lang not in LANGS:
            raise BadRequest("unknown language")
        return category, lang_from_tag(lang)

    def _may_submit(self, client: str, now: float, category: object) -> None:
        """Raises :class:`Limited` when this client reported too often (urgent: 3× as often)."""
        window = self.urgent_submits if category in URGENT else self.submits
        if not window.hit(client, now):
            raise Limited("too many reports from this device; wait a few minutes")

    def _act(self, req: Request, client: str, now: float) -> dict[str, Any]:
        f = req.fields
        if req.op == "submit":
            return self._submit(f, now)
        if req.op == "reserve":
            return self._reserve(now)
        if req.op == "decode":
            return talk.decode(f)
        code = f.get("receipt")
        if not isinstance(code, str) or len(code) > 40:
            raise BadRequest("receipt must be a string")
        view, error = self._lookup(code, client, now)
        if error is not None:
            return {"ok": False, "error": error}
        assert view is not None
        if req.op in ("messages", "reply"):
            return talk.act(self.device, req.op, code, f, now)
        if req.op == "lookup":
            last = view.statuses[-1].status if view.statuses else None
            return {
                "ok": True,
                "delivery": view.state,
                "case": last,
                "notes": [n.note for n in view.statuses if n.note],
            }
        try:
            if req.op == "withdraw":
                self.device.withdraw(code)
            else:
                self.device.request_status(code)
        except ReceiptError:
            return {"ok": False, "error": "ui.not_found"}
        except OutboxFull:
            return {"ok": False, "error": "ui.full"}
        except (OutboxError, LocalProtocolError):
            return {"ok": False, "error": "ui.failed"}
        return {"ok": True}

    def _submit(self, f: dict[str, Any], now: float) -> dict[str, Any]:
        category, lang = self._category_lang(f)
        text = f.get("text", "")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise BadRequest(f"text must be a string of at most {MAX_TEXT} characters")
        extra = self._reply_fields(f, now)
        try:
            done = self.device.submit(category=category, lang=lang, text=text.strip(), **extra)
        except OutboxFull:
            return {"ok": False, "error": "ui.full"}
        except (OutboxError, LocalProtocolError, ReceiptError):
            return {"ok": False, "error": "ui.failed"}
        return {
            "ok": True,
            "receipt": done.receipt,
            "urgent": done.urgent,
            "frames": done.fragments,
        }

    def _lookup(self, code: str, client: str, now: float) -> tuple[Any, str | None]:
        throttle = self._throttles.pop(client, None) or Throttle()
        self._throttles[client] = throttle
        while len(self._throttles) > MAX_CLIENTS:
            self._throttles.popitem(last=False)
        error: str | None = None
        try:
            self.shared.check(now)
            throttle.check(now)
            view = self.device.lookup(code)
        except LookupLocked:
            return None, "ui.locked"
        except ReceiptError:
            view, error = None, "ui.bad_code"
        else:
            if view is None:
                error = "ui.not_found"
        throttle.record(view is not None, now)
        self.shared.record(view is not None, now)
        return view, error
