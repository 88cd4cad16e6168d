"""Real browser (Debian's Chromium driven by Playwright): staff triage, owner isolation, SSE.

Chromium comes from the system package (``scripts/ensure-services.sh`` installs it when
missing); Playwright's own browser download is never used. Screenshots go to
``$FLIP_TEST_ARTIFACTS`` (default: the test's tmp dir).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from shore_gateway.cases.models import AuditEntry
from tests.shore_gateway.cases.helpers import PSEUDONYM, SECRET_TEXT, add_grievance, case
from tests.shore_gateway.web import conftest
from tests.shore_gateway.web.conftest import Site

# The browser fixtures live in conftest.py; kept importable from here as well.
__all__ = ["artifacts", "browser"]
artifacts = conftest.artifacts
browser = conftest.browser

pytestmark = pytest.mark.slow


def login(browser: Any, site: Site, name: str, secret: str) -> tuple[Any, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(site.url + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password or API token").fill(secret)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("domcontentloaded")
    return context, page


def test_staff_triages_urgent_case_end_to_end(browser: Any, site: Site, artifacts: Path) -> None:
    context, page = login(browser, site, "ann", site.gateway.staff_token)
    try:
        assert page.url.endswith("/dashboard")
        page.wait_for_selector("#map[data-tracks]", state="attached")
        page.screenshot(path=str(artifacts / "staff-dashboard.png"), full_page=True)
        page.goto(site.url + "/inbox")
        first = page.locator("#inbox-table tbody tr").first
        assert "URGENT" in first.inner_text()  # urgent first
        assert "medical emergency" in first.inner_text()
        first.get_by_role("link", name="Open").click()
        page.wait_for_selector("#grievance-text")
        assert page.locator("#grievance-text").inner_text() == SECRET_TEXT
        page.screenshot(path=str(artifacts / "staff-grievance.png"), full_page=True)
        page.locator("#to-case").click()
        ref = site.refs["urgent"]
        page.wait_for_url(f"**/cases/{ref}")
        for status in ("acknowledged", "investigating", "remediation_in_progress", "remediated"):
            page.locator(f"button[data-to='{status}']").click()
            page.wait_for_url(f"**/cases/{ref}?done=*")
            assert page.locator("#case-status").inner_text() == status.replace("_", " ")
        page.get_by_label("Action", exact=True).select_option("repatriate")
        page.get_by_role("button", name="Add action").click()
        page.wait_for_selector("text=repatriate")
        page.screenshot(path=str(artifacts / "staff-case.png"), full_page=True)
    finally:
        context.close()
    assert case(site.gateway.db, ref).status == "remediated"
    with site.gateway.db.session() as s:
        views = s.exec(select(AuditEntry).where(AuditEntry.action == "view_text")).all()
    # The grievance page once, then the case page (which shows the words too) six times:
    # opened, four moves, one action added — one entry per page that showed the text.
    assert [(v.actor, v.grievance_id) for v in views] == [("ann", site.grievances["urgent"])] * 7
    assert [json.loads(v.detail)["via"] for v in views] == ["web"] + ["web case"] * 6


def test_owner_sees_only_their_case_and_no_text(browser: Any, site: Site, artifacts: Path) -> None:
    context, page = login(browser, site, "olga", site.gateway.owner_token)
    bodies: list[str] = []
    page.on(
        "response",
        lambda r: (
            bodies.append(r.text())
            if "text" in (r.headers.get("content-type") or "")
            or "json" in (r.headers.get("content-type") or "")
            else None
        ),
    )
    try:
        assert page.url.endswith("/portal")
        page.reload()
        page.wait_for_selector("#owner-cases")
        html = page.content()
        assert site.refs["acme"] in html and site.refs["urgent"] in html
        assert site.refs["zeta"] not in html and "Other Boat" not in html
        for secret in (SECRET_TEXT, PSEUDONYM, "ZX-SECRET-41"):
            assert secret not in html
            assert all(secret not in b for b in bodies)
        page.screenshot(path=str(artifacts / "owner-portal.png"), full_page=True)
        # No URL reaches the other owner's case or the staff pages.
        for path in (
            f"/cases/{site.refs['zeta']}",
            f"/grievances/{site.grievances['zeta']}",
            "/inbox",
            "/dashboard",
        ):
            resp = page.goto(site.url + path)
            assert resp is not None and resp.status == 403
            assert SECRET_TEXT not in page.content()
    finally:
        context.close()


def test_csrf_less_post_is_refused_in_the_browser(browser: Any, site: Site) -> None:
    context, page = login(browser, site, "ann", site.gateway.staff_token)
    try:
        ref = site.refs["acme"]
        status = page.evaluate(
            """async (ref) => (await fetch('/cases/' + ref + '/transition', {method: 'POST',
                 headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                 body: 'status=acknowledged', redirect: 'manual'})).status""",
            ref,
        )
        assert status == 403
        assert case(site.gateway.db, ref).status == "new"
    finally:
        context.close()


def test_live_update_arrives_by_sse(browser: Any, site: Site) -> None:
    context, page = login(browser, site, "ann", site.gateway.staff_token)
    try:
        page.goto(site.url + "/cases")
        page.wait_for_selector("body[data-live='/events']", state="attached")
        page.wait_for_timeout(1500)  # the stream is open and has read the current position
        _, ref = add_grievance(site.gateway.db, "Sea One", 99, category=0xF2)
        page.wait_for_selector(f"#live >> text={ref}", timeout=15_000)
        assert "opened" in page.locator("#live").inner_text()
    finally:
        context.close()
