"""Web fixtures: the gateway served by uvicorn on a free port, with cases in it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shore_gateway.cases import desk
from tests.browsers import chromium
from tests.shore_gateway.cases.helpers import add_grievance
from tests.shore_gateway.cases.servers import ServerThread
from tests.shore_gateway.conftest import Gateway


@dataclass
class Site:
    gateway: Gateway
    url: str
    refs: dict[str, str]
    grievances: dict[str, int]
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        c = httpx.Client(base_url=self.url, follow_redirects=False, timeout=20)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def login(self, name: str, secret: str) -> httpx.Client:
        c = self.client()
        page = c.get("/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"username": name, "secret": secret, "csrf": csrf})
        assert r.status_code == 303, r.text
        return c


@pytest.fixture
def site(gateway: Gateway) -> Iterator[Site]:
    g1, acme = add_grievance(gateway.db, "Sea One", 11)
    g2, urgent = add_grievance(gateway.db, "Sea One", 12, category=0xF1)
    g3, zeta = add_grievance(gateway.db, "Other Boat", 1)
    with gateway.db.session() as s:
        desk.add_action(s, desk.get_case(s, acme), "pay_arrears", actor="ann")
    with ServerThread(gateway.app) as server:
        site = Site(
            gateway,
            server.url,
            {"acme": acme, "urgent": urgent, "zeta": zeta},
            {"acme": g1, "urgent": g2, "zeta": g3},
        )
        try:
            yield site
        finally:
            site.close()


# --- a real browser (Debian's Chromium via Playwright) for the slow page tests -----------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    base = os.environ.get("FLIP_TEST_ARTIFACTS")
    path = Path(base) if base else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path
