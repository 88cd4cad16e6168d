"""Crew app benchmark (issue: crew app): first-load bytes, submit-to-receipt time, agent memory.

``run()`` starts a real ``flip vessel run --crew-http 127.0.0.1:0`` (no modem) and measures:

* **first-load bytes** — what Chromium transfers (headers and gzip-encoded bodies) from opening
  the page to the home screen in Burmese, fonts included (the language page shows every
  script, so all three Noto subsets load). Target ≤ 400 kB.
* **submit-to-receipt time on the box** — in Chromium on this machine, the click on "Send" to
  the receipt on screen: a token, sealing in the page, the agent opening it and
  ``Device.submit`` (seal to the shore, receipt hash, one fsync'd transaction), the sealed answer
  opened in the page. Median and slowest of 10 (the per-client limit in 10 minutes).
* **agent RSS serving 20 phones** — 20 clients, each from its own loopback address (so the
  per-client limits apply as on a real vessel LAN) and with a browser's 6 keep-alive
  connections held open (120 at once), load the page and submit and look up grievances sealed
  exactly as the page seals them, concurrently; peak RSS (VmHWM) of the agent
  process. Target ≤ 80 MB. Beside it, the same agent's RSS with the crew app off and idle with it
  on (same run), so the app's own cost shows.
"""

from __future__ import annotations

import http.client
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHONES = 20
BROWSER_CONNECTIONS = 6  # what a browser opens per host
ROUNDS = 3
SUBMITS = 10  # the per-client limit is 10 submits in 10 minutes
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
PAGE_GETS = ("/", "/fonts/fonts.css", "/app.css", "/app.js", "/i18n/en.json", "/sizes.json",
             "/fonts/NotoSansMyanmar.woff2", "/fonts/NotoSansKhmer.woff2",
             "/fonts/NotoSansThai.woff2", "/i18n/my.json")  # fmt: skip


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _agent(d: Path, crew: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flip", "vessel", "run", "--dir", str(d), "--json",
         "--crew-http", crew],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(60)
    if proc.stdout:
        proc.stdout.close()


def _first_load_and_submits(url: str) -> tuple[int, list[float]]:
    from playwright.sync_api import sync_playwright

    # The meter's table is made when first asked for; have it ready, as on a box that has
    # served a page before (those warm-up bytes are not counted).
    deadline = time.monotonic() + 60
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/sizes.json")
        status = conn.getresponse().status
        conn.close()
        if status == 200:
            break
        time.sleep(0.5)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        seen: list[Any] = []
        page.on("requestfinished", lambda r: seen.append(r))  # noqa: PLW0108 (Playwright needs a function it can tag)
        page.goto(url)
        page.click("[data-lang=my]")
        page.wait_for_selector("#s-home")
        page.wait_for_function("document.fonts.status === 'loaded'")
        page.wait_for_timeout(1000)
        total = 0
        for r in seen:
            sizes = r.sizes()
            total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            total += sizes["requestBodySize"] + sizes["requestHeadersSize"]
        times = []
        for i in range(SUBMITS):
            page.click("#go-report")
            page.click("[data-cat='17']")
            page.fill("#text", f"ကျွန်တော်တို့ လစာ သုံးလ မရသေးပါဘူး။ {i}")
            page.click("#next")
            t0 = time.perf_counter()
            page.click("#send")
            page.wait_for_selector("#s-receipt")
            times.append(time.perf_counter() - t0)
            page.click("#done")
            page.click("[data-lang=my]")
        browser.close()
    return total, times


def _phone(url: str, n: int, errors: list[str], together: threading.Barrier) -> None:
    """One phone as a browser loads the page: 6 keep-alive connections fetching the page's
    files in parallel, held open; then submit + lookup, ROUNDS times. All phones hold their
    connections until every phone is done (``together``), so the peak is 20 phones at once."""
    sys.path.insert(0, str(ROOT))
    from protocol.seal import open_sealed
    from tests.vessel_agent.crewapp.client import HEADERS, sealed_request
    from vessel_agent.crewapp.intake import INFO_REPLY

    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    source = (f"127.0.0.{n + 2}", 0)
    conns = [http.client.HTTPConnection(host, int(port), timeout=30, source_address=source)
             for _ in range(BROWSER_CONNECTIONS)]  # fmt: skip

    def request(conn: Any, method: str, path: str, body: bytes = b"",
                headers: Any = None) -> bytes:  # fmt: skip
        gzip = {"Accept-Encoding": "gzip"}
        conn.request(method, path, body=body, headers=gzip if headers is None else headers)
        r = conn.getresponse()
        data: bytes = r.read()
        if r.status not in (200, 503):
            errors.append(f"{path}: {r.status}")
        return data

    def fetch(i: int) -> None:
        for path in PAGE_GETS[i::BROWSER_CONNECTIONS]:
            request(conns[i], "GET", path)

    try:
        for _ in range(ROUNDS):
            loaders = [threading.Thread(target=fetch, args=(i,))
                       for i in range(BROWSER_CONNECTIONS)]  # fmt: skip
            for t in loaders:
                t.start()
            for t in loaders:
                t.join()
            page = request(conns[0], "GET", "/", headers={}).decode()
            start = page.index('id="boot">') + len('id="boot">')
            intake_pub = bytes.fromhex(json.loads(page[start : page.index("</script>", start)])
                                       ["intake_pub"])  # fmt: skip
            codes: list[str] = []
            for op, fields in (("submit", {"category": 0x17, "lang": "my",
                                           "text": "လစာ မရသေးပါ " * 20,
                                           "reply_pub": secrets.token_bytes(32).hex()}),
                               ("lookup", None)):  # fmt: skip
                token = json.loads(request(conns[1], "GET", "/api/v1/hello"))["token"]
                body, resp = sealed_request(intake_pub, op, token,
                                            **(fields or {"receipt": codes[-1]}))  # fmt: skip
                sealed = request(conns[1], "POST", "/api/v1/crew", body, HEADERS)
                answer = json.loads(open_sealed(sealed, [resp], INFO_REPLY))
                if not answer["ok"]:
                    errors.append(f"{op}: {answer}")
                if op == "submit":
                    codes.append(answer["receipt"])
    except Exception as exc:  # reported as a failed phone
        errors.append(repr(exc)[:200])
    finally:
        together.wait()
        for conn in conns:
            conn.close()


def run() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from bench.agent import _make_dir

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        d = _make_dir(root, "crew")
        proc, _ = _agent(d, "")
        time.sleep(1.5)
        rss_off = _status(proc.pid, "VmRSS")
        _stop(proc)
        proc, ready = _agent(d, "127.0.0.1:0")
        url = ready["crew_http"]
        try:
            time.sleep(1.5)
            rss_idle = _status(proc.pid, "VmRSS")
            first_load, times = _first_load_and_submits(url)
            errors: list[str] = []
            t0 = time.perf_counter()
            together = threading.Barrier(PHONES, timeout=300)
            phones = [threading.Thread(target=_phone, args=(url, n, errors, together))
                      for n in range(PHONES)]  # fmt: skip
            for t in phones:
                t.start()
            for t in phones:
                t.join()
            load_s = time.perf_counter() - t0
            rss_peak = _status(proc.pid, "VmHWM")
            rss_after = _status(proc.pid, "VmRSS")
        finally:
            _stop(proc)
    p50 = statistics.median(times) * 1000
    p95 = max(times) * 1000
    kb = first_load / 1000
    return {
        "name": "crewapp",
        "results": [
            {
                "metric": "first load to the home screen incl. fonts, kB",
                "value": round(kb, 1),
                "target": "≤ 400",
                "met": kb <= 400,
            },
            {
                "metric": "submit to receipt on screen (Chromium, box), p50 / max ms",
                "value": f"{p50:.0f} / {p95:.0f}",
                "target": "report",
                "met": None,
            },
            {
                "metric": f"agent peak RSS serving {PHONES} phones, MB",
                "value": round(rss_peak, 1),
                "target": "≤ 80",
                "met": rss_peak <= 80 and not errors,
            },
            {
                "metric": "agent RSS idle: app off / app on, MB",
                "value": f"{rss_off:.1f} / {rss_idle:.1f}",
                "target": "report",
                "met": None,
            },
        ],
        "first_load_bytes": first_load,
        "submit_to_receipt_ms": [round(t * 1000, 1) for t in times],
        "phones": PHONES,
        "requests_per_phone": ROUNDS * (len(PAGE_GETS) + 1 + 4),
        "connections_per_phone": BROWSER_CONNECTIONS,
        "phones_wall_s": round(load_s, 2),
        "phone_errors": errors,
        "rss_peak_mb": round(rss_peak, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_app_off_mb": round(rss_off, 1),
        "rss_app_on_idle_mb": round(rss_idle, 1),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
