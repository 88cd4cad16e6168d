"""Fixtures for the gateway tests: databases (SQLite and PostgreSQL), app clients, keys, users.

PostgreSQL: 127.0.0.1:5432, user postgres, trust auth (scripts/ensure-services.sh). Each test
session creates its own uniquely named database (so xdist workers never collide) and drops it
at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from protocol.keys import new_signing_key, public_pem
from shore_gateway.app import create_app
from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.registry import VesselIds, add_user, add_vessel

PG_ADMIN = os.environ.get("FLIP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FIXTURES = Path(__file__).parent / "fixtures"


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL; fails (not skips) when PostgreSQL is not running."""
    engine = _pg_admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN} (scripts/ensure-services.sh): {exc}")
    finally:
        engine.dispose()
    return PG_ADMIN


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"flip_test_{uuid.uuid4().hex[:16]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Both backends: the storage suite runs against each."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    database.migrate()
    yield database
    database.dispose()


def make_pub_pem() -> bytes:
    return public_pem(new_signing_key(secrets.token_bytes).public_key())


class Client:
    """A synchronous in-process HTTP client for an ASGI app (httpx's ASGI transport)."""

    def __init__(self, app: object) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.request(method, url, **kwargs)  # type: ignore[arg-type]

        return asyncio.run(go())

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", url, **kwargs)


class Gateway:
    """A test app on SQLite with a staff token, an owner token and two registered vessels."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.app = create_app(settings, db=db)
        self.client = Client(self.app)
        with db.session() as session:
            add_vessel(
                session,
                "Sea One",
                make_pub_pem(),
                VesselIds(
                    imei="300234010753370",
                    owner="acme",
                    ircs="MGXR6",
                    registry_no="GBROOC21250",
                    imo="9074729",
                    mmsi="235009802",
                ),
            )
            add_vessel(session, "Other Boat", make_pub_pem(), VesselIds(owner="zeta", ircs="ZZ123"))
            _, self.staff_token = add_user(session, "ann", "staff")
            _, self.owner_token = add_user(session, "olga", "owner", owner="acme")
            _, self.buyer_token = add_user(session, "bob", "buyer", owner="zeta")

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.staff_token}"}


@pytest.fixture
def gateway(sqlite_db: Database) -> Gateway:
    return Gateway(sqlite_db, Settings(db_url=sqlite_db.url, max_body_bytes=64 * 1024))
