"""Screenshots of the crew app for docs/crew-app.md: phone (390×844) and box screen (1024×600),
Burmese and Khmer, from a throwaway agent directory (Debian's Chromium via Playwright).

Run: ``.venv/bin/python scripts/crew_app_screenshots.py docs/img``. PNGs are quantised to a
96-colour palette to keep them small."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
TEXT = {
    "my": "ကျွန်တော်တို့ လစာ သုံးလ မရသေးပါဘူး။ ကပ္ပတိန်က စာချုပ်ပြီးမှ ပေးမယ်လို့ ပြောတယ်။",
    "km": "ខ្ញុំមិនបានទទួលប្រាក់ខែបីខែហើយ។ ថៅកែនិយាយថានឹងបើកនៅពេលចប់កិច្ចសន្យា។",
}
SIZES = {"phone": {"width": 390, "height": 844}, "box": {"width": 1024, "height": 600}}
WANTED = {"phone-start", "phone-my-home", "phone-my-write", "phone-my-urgent-review",
          "phone-km-receipt", "box-km-home", "box-my-write", "box-km-review"}  # fmt: skip


def main(out: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from tests.vessel_agent.conftest import make_agent_dir
    from vessel_agent.crewapp.server import serve

    out.mkdir(parents=True, exist_ok=True)
    fx = make_agent_dir(Path(tempfile.mkdtemp()))
    server = serve(str(fx.dir), ("127.0.0.1", 0))

    def save(page: Any, name: str) -> None:
        if name not in WANTED:
            return
        path = out / f"crew-app-{name}.png"
        page.screenshot(path=str(path))
        image = Image.open(path).convert("RGB").quantize(96, method=Image.Quantize.MEDIANCUT)
        image.save(path, optimize=True)

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for size, viewport in SIZES.items():
                for lang in ("my", "km"):
                    page = browser.new_page(viewport=viewport)
                    page.goto(server.url)
                    page.wait_for_selector("#s-lang")
                    save(page, f"{size}-start")
                    page.click(f"[data-lang={lang}]")
                    page.wait_for_selector("#s-home")
                    page.wait_for_function("document.fonts.status === 'loaded'")
                    save(page, f"{size}-{lang}-home")
                    page.click("#go-report")
                    page.click("[data-cat='17']")
                    page.fill("#text", TEXT[lang])
                    page.wait_for_selector("#meter-count", timeout=30_000)
                    save(page, f"{size}-{lang}-write")
                    page.click("#next")
                    save(page, f"{size}-{lang}-review")
                    page.click("#send")
                    page.wait_for_selector("#s-receipt")
                    save(page, f"{size}-{lang}-receipt")
                    page.click("#done")
                    page.click(f"[data-lang={lang}]")
                    page.locator(".urgent-box [data-cat=F3]").click()
                    page.click("#next")
                    save(page, f"{size}-{lang}-urgent-review")
                    page.close()
            browser.close()
    finally:
        server.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
