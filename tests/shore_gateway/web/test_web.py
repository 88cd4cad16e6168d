"""Browser-facing HTTP: login, sessions, CSRF, rate limit, isolation of the owner portal."""

from __future__ import annotations

import json

from sqlmodel import select

from shore_gateway.cases.models import AuditEntry
from shore_gateway.web.models import WebSession
from tests.shore_gateway.cases.helpers import PSEUDONYM, SECRET_TEXT
from tests.shore_gateway.web.conftest import Site


def csrf_of(html: str) -> str:
    return html.split('name="csrf" content="')[1].split('"', maxsplit=1)[0]


def test_pages_need_login_and_staff(site: Site) -> None:
    anon = site.client()
    for path in (
        "/dashboard",
        "/inbox",
        "/cases",
        "/portal",
        f"/cases/{site.refs['acme']}",
        "/events",
        "/cases.csv",
    ):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    owner = site.login("olga", site.gateway.owner_token)
    for path in (
        "/dashboard",
        "/inbox",
        "/cases",
        f"/cases/{site.refs['acme']}",
        f"/grievances/{site.grievances['acme']}",
        "/events",
        "/dashboard/tracks.json",
    ):
        assert owner.get(path).status_code == 403, path


def test_login_cookie_flags_and_fixation(site: Site) -> None:
    c = site.client()
    page = c.get("/login")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    c.cookies.set("flip_session", "attacker-chosen-id", domain="127.0.0.1")
    r = c.post("/login", data={"username": "ann", "secret": site.gateway.staff_token, "csrf": csrf})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    sid = r.cookies["flip_session"]
    assert sid != "attacker-chosen-id" and len(sid) >= 40
    with site.gateway.db.session() as s:
        rows = s.exec(select(WebSession)).all()
    assert len(rows) == 1 and rows[0].sid_sha256 != sid.encode()  # only the hash is stored
    assert c.get("/dashboard").status_code == 200


def test_login_without_csrf_or_with_wrong_secret(site: Site) -> None:
    c = site.client()
    r = c.post("/login", data={"username": "ann", "secret": site.gateway.staff_token})
    assert r.status_code == 403
    c.get("/login")
    page = c.get("/login")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    bad = c.post("/login", data={"username": "ann", "secret": "nope", "csrf": csrf})
    ghost = c.post("/login", data={"username": "nobody", "secret": "nope", "csrf": csrf})
    assert bad.status_code == ghost.status_code == 401
    assert "wrong user name or secret" in bad.text and "wrong user name or secret" in ghost.text


def test_login_rate_limited(site: Site) -> None:
    c = site.client()
    page = c.get("/login")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    codes = [
        c.post("/login", data={"username": "ann", "secret": f"guess{i}", "csrf": csrf}).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]
    right = c.post(
        "/login", data={"username": "ann", "secret": site.gateway.staff_token, "csrf": csrf}
    )
    assert right.status_code == 429  # even the right secret waits out the window


def test_state_changes_need_csrf(site: Site) -> None:
    staff = site.login("ann", site.gateway.staff_token)
    ref = site.refs["acme"]
    no_token = staff.post(f"/cases/{ref}/transition", data={"status": "acknowledged"})
    assert no_token.status_code == 403
    wrong = staff.post(
        f"/cases/{ref}/transition", data={"status": "acknowledged", "csrf": "x" * 43}
    )
    assert wrong.status_code == 403
    csrf = csrf_of(staff.get("/dashboard").text)
    cross = staff.post(
        f"/cases/{ref}/transition",
        data={"status": "acknowledged", "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    ok = staff.post(f"/cases/{ref}/transition", data={"status": "acknowledged", "csrf": csrf})
    assert ok.status_code == 303
    assert "acknowledged" in staff.get(f"/cases/{ref}").text
    assert staff.post("/logout").status_code == 403
    assert staff.post("/logout", data={"csrf": csrf}).status_code == 303
    assert staff.get("/dashboard").status_code == 303  # logged out


def test_grievance_page_shows_text_and_audits_the_view(site: Site) -> None:
    staff = site.login("ann", site.gateway.staff_token)
    inbox = staff.get("/inbox")
    assert SECRET_TEXT not in inbox.text  # the list never shows text
    assert inbox.text.index(site.refs["urgent"]) < inbox.text.index(site.refs["acme"])
    page = staff.get(f"/grievances/{site.grievances['acme']}")
    assert SECRET_TEXT in page.text and "-4.6100" in page.text
    with site.gateway.db.session() as s:
        views = s.exec(select(AuditEntry).where(AuditEntry.action == "view_text")).all()
    assert [(v.actor, json.loads(v.detail)["via"]) for v in views] == [("ann", "web")]


def test_owner_portal_only_own_vessels_no_crew_data(site: Site) -> None:
    owner = site.login("olga", site.gateway.owner_token)
    for path in ("/portal", "/portal?lang=th", "/cases.csv"):
        r = owner.get(path)
        assert r.status_code == 200
        assert site.refs["acme"] in r.text and site.refs["urgent"] in r.text
        assert site.refs["zeta"] not in r.text and "Other Boat" not in r.text
        assert SECRET_TEXT not in r.text and PSEUDONYM not in r.text
        assert "withholding" not in r.text.lower()  # exact category stays with staff
    assert "เรื่องร้องเรียน" in owner.get("/portal?lang=th").text


def test_security_headers_and_static(site: Site) -> None:
    c = site.client()
    r = c.get("/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert c.get("/static/app.js").status_code == 200
    coast = c.get("/static/coastline.json")
    assert coast.status_code == 200 and len(coast.json()["rings"]) > 100
    for bad in ("/static/..%2Fpages.py", "/static/.hidden.js", "/static/pages.py"):
        assert c.get(bad).status_code == 404
    css = c.get("/fonts/fonts.css")
    assert css.status_code == 200 and "Noto Sans Myanmar" in css.text
    font = c.get("/fonts/NotoSansMyanmar.woff2")
    assert font.headers["content-type"] == "font/woff2" and font.content[:4] == b"wOF2"
    assert "OFL" in c.get("/fonts/OFL.txt").text
    for bad in ("/fonts/..%2F__init__.py", "/fonts/.x.css", "/fonts/__init__.py"):
        assert c.get(bad).status_code == 404


def test_sse_streams_case_changes(site: Site) -> None:
    staff = site.login("ann", site.gateway.staff_token)
    with staff.stream("GET", "/events?max_s=1&poll_s=0.1", headers={"Last-Event-ID": "0"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert {e["case"] for e in events} == set(site.refs.values())
    assert all(SECRET_TEXT not in json.dumps(e) for e in events)


def test_password_login(site: Site) -> None:
    staff = site.login("ann", site.gateway.staff_token)
    csrf = csrf_of(staff.get("/account").text)
    short = staff.post(
        "/account/password",
        data={"csrf": csrf, "current_secret": site.gateway.staff_token, "new_password": "x"},
    )
    assert short.status_code == 400
    ok = staff.post(
        "/account/password",
        data={
            "csrf": csrf,
            "current_secret": site.gateway.staff_token,
            "new_password": "correct horse battery",
        },
    )
    assert ok.status_code == 303
    again = site.login("ann", "correct horse battery")
    assert again.get("/dashboard").status_code == 200


def test_errors_are_pages_for_browsers_and_json_for_api_clients(site: Site) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    owner = site.login("olga", site.gateway.owner_token)
    r = owner.get("/inbox", headers=html)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "This page is for shore staff." in r.text and 'href="/portal"' in r.text
    assert "data-back" in r.text  # a way back
    assert owner.get("/inbox").json() == {"detail": "staff only"}  # not asking for HTML
    staff = site.login("ann", site.gateway.staff_token)
    missing = staff.get("/cases/C-999999", headers=html)
    assert missing.status_code == 404 and "Not found" in missing.text
    assert "C-999999" in missing.text and "Log out" in missing.text  # the menu is still there
    bad = staff.get("/inbox?urgent=" + "x" * 50, headers=html)
    assert bad.status_code == 422 and "not right" in bad.text
    api = staff.get("/api/cases/C-999999", headers={**html, **site.gateway.auth()})
    assert api.status_code == 404 and api.json()["detail"]  # APIs stay JSON
    anon = site.client().get("/nowhere", headers=html)
    assert anon.status_code == 404 and 'href="/login"' in anon.text


def test_closing_needs_confirmation_and_moves_answer_with_a_result(site: Site) -> None:
    staff = site.login("ann", site.gateway.staff_token)
    ref = site.refs["acme"]
    csrf = csrf_of(staff.get("/dashboard").text)
    for status in ("acknowledged", "investigating"):
        r = staff.post(f"/cases/{ref}/transition", data={"status": status, "csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == f"/cases/{ref}?done={status}"
    assert "Investigation started." in staff.get(f"/cases/{ref}?done=investigating").text
    unconfirmed = staff.post(f"/cases/{ref}/transition", data={"status": "closed", "csrf": csrf})
    assert unconfirmed.status_code == 400 and "Nothing changed" in unconfirmed.text
    assert 'data-status="investigating"' in unconfirmed.text
    refused = staff.post(f"/cases/{ref}/transition", data={"status": "new", "csrf": csrf})
    assert refused.status_code == 409 and "cannot become new" in refused.text
    closed = staff.post(
        f"/cases/{ref}/transition", data={"status": "closed", "confirm": "yes", "csrf": csrf}
    )
    assert closed.status_code == 303
    assert 'data-status="closed"' in staff.get(f"/cases/{ref}").text


def test_staff_split_and_merge_on_the_case_page(site: Site) -> None:
    from tests.shore_gateway.cases.helpers import add_grievance

    g2, same = add_grievance(site.gateway.db, "Sea One", 21)  # joins the acme case
    assert same == site.refs["acme"]
    staff = site.login("ann", site.gateway.staff_token)
    csrf = csrf_of(staff.get("/dashboard").text)
    ref = site.refs["acme"]
    page = staff.get(f"/cases/{ref}").text
    assert "Split grievances off" in page and f'value="{site.refs["urgent"]}"' in page
    split = staff.post(f"/cases/{ref}/split", data={"grievance": str(g2), "csrf": csrf})
    assert split.status_code == 303 and "done=split" in split.headers["location"]
    new = split.headers["location"].split("/cases/")[1].split("?")[0]
    assert new not in (ref, site.refs["urgent"])
    no = staff.post(f"/cases/{new}/merge", data={"into": ref, "csrf": csrf})
    assert no.status_code == 400  # unconfirmed
    merged = staff.post(f"/cases/{new}/merge", data={"into": ref, "confirm": "yes", "csrf": csrf})
    assert merged.headers["location"] == f"/cases/{ref}?done=merged"
    again = staff.post(
        f"/cases/{ref}/merge", data={"into": site.refs["zeta"], "confirm": "yes", "csrf": csrf}
    )
    assert again.status_code == 409 and "same vessel" in again.text
