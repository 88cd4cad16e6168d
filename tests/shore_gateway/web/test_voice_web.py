"""Voice notes on the staff pages: the inbox and the case page say "voice note, N s", the
grievance page plays it; only playing is audited; owners get nothing."""

from __future__ import annotations

from sqlmodel import col, select

from protocol.lang import Lang
from shore_gateway.cases.models import AuditEntry
from tests.shore_gateway.test_voice import _add_voice
from tests.shore_gateway.web.conftest import Site
from tests.vessel_agent.audio import tone, wav
from vessel_agent.voice import encode


def _views(site: Site, gid: int) -> list[str]:
    with site.gateway.db.session() as s:
        rows = s.exec(
            select(AuditEntry)
            .where(AuditEntry.grievance_id == gid, AuditEntry.action == "view_text")
            .order_by(col(AuditEntry.id))
        ).all()
        return [r.detail for r in rows]


def test_staff_pages_show_and_play_a_voice_note(site: Site) -> None:
    note = encode(wav(tone(700, 12.0, 16000) * 0.4, 16000)).note(category=0x17, lang=Lang.MY)
    gid = _add_voice(site.gateway.db, note, seq=41)
    staff = site.login("ann", site.gateway.staff_token)
    inbox = staff.get("/inbox").text
    assert "voice note, 12 s" in inbox
    page = staff.get(f"/grievances/{gid}").text
    assert (
        f'<audio id="grievance-audio" controls preload="none" src="/grievances/{gid}/audio">'
        in page
    )
    assert "Voice note, 12 s" in page
    assert _views(site, gid) == []  # the page without playing: nothing heard, nothing logged
    ref = next(line for line in page.splitlines() if 'id="to-case"' in line)
    ref = ref.split('href="/cases/')[1].split('"')[0]
    case = staff.get(f"/cases/{ref}").text
    assert "Voice note, 12 s" in case and _views(site, gid) == []
    r = staff.get(f"/grievances/{gid}/audio")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content[:4] == b"RIFF" and len(r.content) == 44 + 12 * 8000 * 2
    assert _views(site, gid) == ['{"via": "web-audio"}']
    timeline = staff.get(f"/cases/{ref}").text
    assert (
        "listened to the crew&#39;s voice note" in timeline
        or "listened to the crew's voice note" in timeline
    )
    owner = site.login("olga", site.gateway.owner_token)
    for url in (f"/grievances/{gid}/audio", f"/grievances/{gid}"):
        r = owner.get(url)
        assert r.status_code in (303, 403, 404) and b"RIFF" not in r.content
    assert len(_views(site, gid)) == 1
