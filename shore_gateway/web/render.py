"""Jinja2 rendering (autoescaped), the bundled static files, and the owner portal strings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Security headers on every page: no third-party anything (all assets are bundled).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

#: Owner-portal strings (th, en). Keys missing in a language fall back to English.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "portal": "Owner portal", "vessels": "Your vessels", "cases": "Cases",
        "case": "Case", "group": "Category group", "status": "Status", "opened": "Opened",
        "due": "Respond by", "actions": "Remediation actions", "deadline": "Deadline",
        "done": "Done", "open_action": "Open", "terminal": "Terminal", "last_contact":
        "Last contact", "queue": "Queued messages", "health": "Link health", "none": "None",
        "silent": "SILENT — no contact for", "hours": "hours", "logout": "Log out",
        "silent_since": "terminal silent since", "silent_never": "terminal never heard from",
        "export": "Export CSV", "lots": "Catch lots", "trips": "Trips", "never": "never",
        "ok": "ok", "degraded": "degraded", "no_cases": "No cases on your vessels.",
        "language": "Language", "overdue": "overdue", "urgent": "urgent",
        "privacy": "Crew identity, receipts and what crew wrote are never shown here.",
    },
    "th": {
        "portal": "พอร์ทัลเจ้าของเรือ", "vessels": "เรือของคุณ", "cases": "เรื่องร้องเรียน",
        "case": "เรื่อง", "group": "กลุ่มประเภท", "status": "สถานะ", "opened": "เปิดเมื่อ",
        "due": "ต้องตอบภายใน", "actions": "การแก้ไขที่ต้องทำ", "deadline": "กำหนดเสร็จ",
        "done": "เสร็จแล้ว", "open_action": "ยังไม่เสร็จ", "terminal": "อุปกรณ์สื่อสาร",
        "last_contact": "ติดต่อล่าสุด", "queue": "ข้อความที่รอส่ง",
        "health": "สถานะการเชื่อมต่อ", "none": "ไม่มี", "silent": "ขาดการติดต่อมา",
        "hours": "ชั่วโมง", "silent_since": "อุปกรณ์ขาดการติดต่อตั้งแต่",
        "silent_never": "ยังไม่เคยได้รับการติดต่อจากอุปกรณ์", "logout": "ออกจากระบบ", "export": "ส่งออก CSV",
        "lots": "ล็อตสัตว์น้ำ", "trips": "เที่ยวเรือ", "never": "ไม่เคย", "ok": "ปกติ",
        "degraded": "มีปัญหา", "no_cases": "ไม่มีเรื่องร้องเรียนบนเรือของคุณ",
        "language": "ภาษา", "overdue": "เกินกำหนด", "urgent": "เร่งด่วน",
        "privacy": "ที่นี่จะไม่แสดงตัวตนของลูกเรือ รหัสใบรับ หรือข้อความที่ลูกเรือเขียน",
    },
}
STATUS_TH = {
    "new": "ใหม่", "acknowledged": "รับเรื่องแล้ว", "investigating": "กำลังตรวจสอบ",
    "remediation_in_progress": "กำลังแก้ไข", "remediated": "แก้ไขแล้ว", "closed": "ปิดแล้ว",
    "referred": "ส่งต่อแล้ว", "withdrawn": "ถอนเรื่องแล้ว",
}


def strings(lang: str) -> dict[str, str]:
    base = dict(STRINGS["en"])
    base.update(STRINGS.get(lang, {}))
    return base


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a template into an HTML response with the security headers."""
    html = env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
