"""schemathesis against the gateway's own ``/openapi.json`` (in-process ASGI): whatever it
generates, with a staff token, an owner token or none, the answer is never a 5xx.

``make test`` runs a bounded number of examples per operation; ``make soak`` runs many more
(``FLIP_SCHEMA_EXAMPLES``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from shore_gateway.config import Settings
from shore_gateway.db import Database
from tests.shore_gateway.cases.helpers import add_grievance
from tests.shore_gateway.conftest import Gateway

EXAMPLES = int(os.environ.get("FLIP_SCHEMA_EXAMPLES", "25"))


@pytest.fixture
def api_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    url = f"sqlite:///{tmp_path_factory.mktemp('schema') / 'gw.sqlite3'}"
    db = Database(url)
    db.migrate()
    gateway = Gateway(db, Settings(db_url=url, max_body_bytes=64 * 1024))
    add_grievance(db, "Sea One", 1)
    add_grievance(db, "Other Boat", 1, category=0xF1)
    yield gateway
    db.dispose()


def _schema(app: object) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _labels() -> list[str]:
    """Every operation of the schema (collected from an app that never touches its db)."""
    from shore_gateway.app import create_app

    app = create_app(Settings(db_url="sqlite://"), migrate=False)
    return [result.ok().label for result in _schema(app).get_all_operations()]


@pytest.fixture(autouse=True)
def _quiet_internal_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="flip")


def _check(gateway: Gateway, label: str, examples: int) -> None:
    (operation,) = [
        r.ok() for r in _schema(gateway.app).get_all_operations() if r.ok().label == label
    ]
    tokens = (gateway.staff_token, gateway.owner_token, None)

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=examples <= 25,
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case: schemathesis.Case) -> None:
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} → {response.status_code}: "
                f"{response.text[:300]}"
            )

    run()


LABELS = _labels()


@pytest.mark.slow
@pytest.mark.parametrize("label", LABELS)
def test_no_server_errors(api_gateway: Gateway, label: str) -> None:
    _check(api_gateway, label, EXAMPLES)


@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("label", LABELS)
def test_no_server_errors_soak(api_gateway: Gateway, label: str) -> None:
    _check(api_gateway, label, max(EXAMPLES, 1000))
