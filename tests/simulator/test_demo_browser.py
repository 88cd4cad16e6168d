"""The demo, as a person uses it, in a real browser (Debian's Chromium via Playwright):
staff see a vessel's grievance with its position and catch lots, take its case to remediated;
the owner portal and the crew member's receipt on board follow."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browsers import chromium
from tests.demoproc import demo as run_demo
from tests.demoproc import until

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with run_demo(tmp_path / "demo", vessels=2) as info:
        yield info


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
    base = demo["base"]
    staff = {"Authorization": f"Bearer {demo['staff_login']['token']}"}
    # The first grievance of MV Demo 1 (owned by the demo's owner login).
    mine = next(r for r in demo["receipts"] if r["vessel"] == "MV Demo 1")

    def ashore() -> dict[str, Any] | None:
        rows = httpx.get(f"{base}/api/grievances", headers=staff, timeout=10).json()
        return next(
            (r for r in rows if r["vessel"] == "MV Demo 1" and r["seq"] == mine["seq"]), None
        )

    found = until(ashore, 120, "the grievance ashore")
    # The list carries no text; this one API view of it is audited.
    grievance = httpx.get(f"{base}/api/grievances/{found['id']}", headers=staff, timeout=10).json()
    with chromium() as browser:
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

    seen = until(on_board, 180, "the remediated status on the crew member's receipt")
    assert seen["statuses"][-1]["case_ref"] == ref
