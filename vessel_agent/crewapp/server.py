"""The crew app's HTTP server: the standard library's threading server inside the agent process.

Why the stdlib rather than Starlette/uvicorn: a handful of routes, no async code in the agent,
and memory — an asyncio server stack costs the small box several MB more for nothing
(``make bench``: agent RSS while serving 20 phones, BENCHMARKS.md).

Routes (everything else is 404; no route lists anything):

* ``GET /`` the page; ``/app.js``, ``/app.css`` (built, ``static/``); ``/fonts/*``
  (:data:`flip.assets.FONTS_DIR`); ``/i18n/<lang>.json`` (the crew catalogs of
  :mod:`vessel_agent.i18n`, the terminal's own strings); ``/sizes.json`` (the meter's table).
* ``GET /api/v1/hello`` a single-use token and the figures of the meter (no-store).
* ``POST /api/v1/crew`` one sealed request (``application/octet-stream``, at most
  :data:`~vessel_agent.crewapp.intake.MAX_SEALED` bytes) → its sealed answer.
* ``POST /api/v1/crew/voice`` one sealed voice note (at most
  :data:`~vessel_agent.crewapp.intake.MAX_VOICE_SEALED` bytes) → its sealed answer.

Every answer carries a Content-Security-Policy that allows this origin only: the page can fetch,
load fonts, scripts or styles from nowhere else, nor be framed. Posts must be same-origin (Origin
/ Sec-Fetch-Site checked when the browser sends them, and a custom header that a cross-site form
cannot set), carry a token from ``hello`` and fit the body bound; anything else is a 4xx with a
JSON ``{"error": …}`` and the server keeps serving.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import html
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from protocol import keys
from vessel_agent.crewapp.intake import MAX_SEALED, MAX_VOICE_SEALED, BadRequest
from vessel_agent.crewapp.service import CrewService, Limited
from vessel_agent.i18n import GROUPS, LANGS, URGENT, load

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # The microphone for voice notes, this origin only (browsers give it on localhost/https).
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(self), payment=(), usb=()",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".mp3": "audio/mpeg",
}
#: Open connections at once (one thread each). A browser opens up to 6 per host and keeps them
#: alive, so 20 phones loading together need ~120; more are closed at once, not queued.
MAX_CONNECTIONS = 256
#: A connection idle (or a request trickling in) this long is closed: threads are not held by
#: keep-alive phones that went away, nor by a slow-loris client.
SOCKET_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    ctype: str
    etag: str


def _asset(body: bytes, ctype: str) -> Asset:
    packed = gzip.compress(body, 9, mtime=0) if not ctype.startswith(("font/", "audio/")) else None
    if packed is not None and len(packed) >= len(body):
        packed = None
    return Asset(body, packed, ctype, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def build_assets(*, default_lang: str, idle_s: int, intake_pub: bytes) -> dict[str, Asset]:
    """Every GET route's bytes, built once at start (a few hundred kB)."""
    from flip.assets import FONTS_DIR

    static = resources.files("vessel_agent.crewapp").joinpath("static")
    out: dict[str, Asset] = {}
    for name in ("app.js", "app.css", "licenses.txt"):
        out[f"/{name}"] = _asset(static.joinpath(name).read_bytes(), TYPES[Path(name).suffix])
    for path in sorted(Path(FONTS_DIR).iterdir()):
        if path.suffix in TYPES:
            out[f"/fonts/{path.name}"] = _asset(path.read_bytes(), TYPES[path.suffix])
    for lang in LANGS:
        body = json.dumps(load(lang), ensure_ascii=False, sort_keys=True).encode("utf-8")
        out[f"/i18n/{lang}.json"] = _asset(body, TYPES[".json"])
    # Spoken instructions for crew who cannot read (scripts/build_prompts.py): which screens
    # have one in which language goes to the page in the boot data.
    clips = static.joinpath("prompts")
    prompts = json.loads(clips.joinpath("manifest.json").read_text("utf-8"))
    for lang, screens in prompts.items():
        for screen in screens:
            name = f"{lang}-{screen}.mp3"
            out[f"/prompts/{name}"] = _asset(clips.joinpath(name).read_bytes(), TYPES[".mp3"])
    boot = {
        "langs": [[lang, load(lang)["language_name"]] for lang in LANGS],
        "default": default_lang if default_lang in LANGS else "en",
        "idle_s": idle_s,
        "urgent": list(URGENT),
        "groups": [[key, list(codes)] for key, codes in GROUPS],
        "intake_pub": intake_pub.hex(),
        "prompts": {lang: sorted(screens) for lang, screens in prompts.items()},
    }
    page = static.joinpath("index.html").read_text("utf-8")
    page = page.replace("{{BOOT}}", html.escape(json.dumps(boot, ensure_ascii=False), quote=False))
    out["/"] = _asset(page.encode("utf-8"), TYPES[".html"])
    return out


class CrewServer(ThreadingHTTPServer):
    """The server; :meth:`start` runs it on a daemon thread, :meth:`close` stops it."""

    daemon_threads = True
    request_queue_size = 32

    def __init__(self, address: tuple[str, int], service: CrewService, assets: dict[str, Asset]):
        self.service = service
        self.assets = assets
        self._sizing = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def make_sizes(self) -> None:
        """The meter's table costs a second or two of CPU (real sealing and framing): made on a
        thread when a page first asks for it — an agent nobody opens the app on never pays —
        and ``/sizes.json`` answers 503 until then."""
        if not self._sizing.acquire(blocking=False):
            return

        def make() -> None:
            from vessel_agent.crewapp import sizes

            body = json.dumps(sizes.table()).encode()
            self.assets["/sizes.json"] = _asset(body, TYPES[".json"])

        threading.Thread(target=make, name="crew-sizes", daemon=True).start()

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # too many open connections: drop this one
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="crew-http", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.service.close()


class Handler(BaseHTTPRequestHandler):
    server: CrewServer
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    server_version = "flip-crew"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: who asked for what, when, is itself sensitive on a vessel."""

    @property
    def client(self) -> str:
        return str(self.client_address[0])

    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # say so: a client must not send its next request here
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drain(self, cap: int) -> None:
        """Read and drop a refused request's body (up to ``cap`` bytes) before answering and
        closing: a socket closed with unread bytes is reset, and the reset can reach the client
        before the answer does — it then sees no response at all."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return
        if 0 < length <= cap:
            with contextlib.suppress(OSError):
                self.rfile.read(length)

    def _error(self, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, TYPES[".json"], {"Cache-Control": "no-store"})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/v1/hello":
            try:
                token = self.server.service.token(self.client)
            except Limited as exc:
                self._error(429, str(exc))
                return
            body = json.dumps({"token": token, **self.server.service.hello()}).encode()
            self._send(200, body, TYPES[".json"], {"Cache-Control": "no-store"})
            return
        asset = self.server.assets.get(path)
        if asset is None:
            if path == "/sizes.json":
                self.server.make_sizes()
                self._error(503, "the meter's table is being made; try again in a moment")
                return
            self._error(404, "not found")
            return
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if self.headers.get("If-None-Match") == asset.etag:
            self.send_response(304)
            for name, value in {**SECURITY_HEADERS, **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = asset.body
        if asset.gzipped is not None and "gzip" in self.headers.get("Accept-Encoding", ""):
            body, headers["Content-Encoding"] = asset.gzipped, "gzip"
        self._send(200, body, asset.ctype, headers)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if self.path not in ("/api/v1/crew", "/api/v1/crew/voice"):
            self._error(404, "not found")
            return
        spoken = self.path.endswith("/voice")
        limit = MAX_VOICE_SEALED if spoken else MAX_SEALED
        why = self._cross_site()
        if why:
            self.close_connection = True
            self._drain(limit)
            self._error(403, why)
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._error(411, "Content-Length required")
            return
        if not 0 < length <= limit:
            self.close_connection = True
            self._error(413, f"a sealed request has at most {limit} bytes")
            return
        sealed = self.rfile.read(length)
        if len(sealed) != length:
            self.close_connection = True
            self._error(400, "body shorter than Content-Length")
            return
        try:
            handle = self.server.service.handle_voice if spoken else self.server.service.handle
            answer = handle(sealed, self.client)
        except BadRequest as exc:
            self._error(400, str(exc))
            return
        except Limited as exc:
            self._error(429, str(exc))
            return
        self._send(200, answer, "application/octet-stream", {"Cache-Control": "no-store"})

    def _cross_site(self) -> str:
        h = self.headers
        if h.get("X-Flip-Crew") != "1":
            return "missing X-Flip-Crew header"
        if h.get("Content-Type") != "application/octet-stream":
            return "Content-Type must be application/octet-stream"
        site = h.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return "cross-site request refused"
        origin = h.get("Origin")
        if origin is not None and origin != f"http://{h.get('Host', '')}":
            return "cross-origin request refused"
        return ""

    def do_PUT(self) -> None:
        self._error(405, "method not allowed")

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT


def parse_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` → (host, port); ``''`` → None (off). Raises ValueError when malformed."""
    text = text.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--crew-http wants HOST:PORT (or '' for off), got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(
    path: str,
    address: tuple[str, int],
    *,
    default_lang: str = "en",
    idle_s: int = 90,
    **service_kw: Any,
) -> CrewServer:
    """Load (or create) the intake key, build the assets, bind and start serving.

    Raises:
        ConfigError: the intake key cannot be read or written.
        OSError: the address cannot be bound.
    """
    from vessel_agent.crewapp.intake import load_or_create

    key = load_or_create(path)
    pub = keys.raw_public(key.public_key())
    service = CrewService(path, key, **service_kw)
    try:
        assets = build_assets(default_lang=default_lang, idle_s=idle_s, intake_pub=pub)
        server = CrewServer(address, service, assets)
    except BaseException:
        service.close()
        raise
    server.start()
    return server
