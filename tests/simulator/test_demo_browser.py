"""The demo, as a person uses it, in a real browser (Debian's Chromium via Playwright):
staff see a vessel's grievance with its position and catch lots, take its case to remediated;
the owner portal and the crew member's receipt on board follow."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("FLIP_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flip",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--vessels",
            "2",
            "--http-port",
            "0",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        info["base"] = info["dashboard"].rsplit("/", 1)[0]
        yield info
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]


def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _login(browser: Any, base: str, user: str, token: str) -> tuple[Any, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base + "/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password or API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("domcontentloaded")
    return context, page


def test_from_the_demo_staff_remediate_and_owner_and_crew_see_it(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.fail(f"{CHROMIUM} missing: run scripts/ensure-services.sh (installs chromium)")
    from playwright.sync_api import sync_playwright

    base = demo["base"]
    staff = {"Authorization": f"Bearer {demo['staff_login']['token']}"}
    # The first grievance of MV Demo 1 (owned by the demo's owner login).
    mine = next(r for r in demo["receipts"] if r["vessel"] == "MV Demo 1")

    def ashore() -> dict[str, Any] | None:
        rows = httpx.get(f"{base}/api/grievances", headers=staff, timeout=10).json()
        return next(
            (r for r in rows if r["vessel"] == "MV Demo 1" and r["seq"] == mine["seq"]), None
        )

    found = _until(ashore, 120, "the grievance ashore")
    # The list carries no text; this one API view of it is audited.
    grievance = httpx.get(f"{base}/api/grievances/{found['id']}", headers=staff, timeout=10).json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context, page = _login(browser, base, "staff", demo["staff_login"]["token"])
        page.goto(f"{base}/grievances/{grievance['id']}")
        page.wait_for_selector("#grievance-text")
        body = page.inner_text("body")
        assert "urn:gdst:example.org:lot:class:demo.1." in body  # catch lots of the trip
        assert grievance["position"] is not None
        assert f"{grievance['position']['lat']:.2f}"[:4] in body  # position at the time
        page.screenshot(path=str(tmp_path / "demo-grievance.png"), full_page=True)
        page.locator("#to-case").click()
        page.wait_for_url("**/cases/*")
        ref = page.url.rsplit("/", 1)[1]
        for status in ("acknowledged", "investigating", "remediation_in_progress", "remediated"):
            page.locator(f"button[data-to='{status}']").click()
            page.wait_for_url(f"**/cases/{ref}?done=*")
            assert page.locator("#case-status").inner_text() == status.replace("_", " ")
        context.close()

        context, page = _login(browser, base, "owner", demo["owner_login"]["token"])
        page.goto(f"{base}/portal")
        page.wait_for_selector("#owner-cases")
        row = page.locator("#owner-cases tr", has_text=ref)
        assert "remediated" in row.inner_text()
        assert grievance["text"] not in page.content()
        page.screenshot(path=str(tmp_path / "demo-portal.png"), full_page=True)
        context.close()
        browser.close()

    vessel_dir = demo["crew_terminal"].split("--dir ", 1)[1]

    def on_board() -> dict[str, Any] | None:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "flip",
                "vessel",
                "status",
                "--dir",
                vessel_dir,
                "--receipt",
                mine["receipt"],
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        result = json.loads(out.stdout) if out.returncode == 0 else {}
        return result if result.get("state") == "remediated" else None

    seen = _until(on_board, 180, "the remediated status on the crew member's receipt")
    assert seen["statuses"][-1]["case_ref"] == ref
