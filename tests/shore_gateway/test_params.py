"""Ids in URLs beyond what the database stores are a clear 422, never a 500."""

from __future__ import annotations

import pytest

from tests.shore_gateway.conftest import Gateway

HUGE = str(2**70)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/api/grievances/{HUGE}"),
        ("get", "/api/grievances/0"),
        ("post", f"/api/cases/C-000001/actions/{HUGE}/done"),
    ],
)
def test_out_of_range_ids_are_422(gateway: Gateway, method: str, path: str) -> None:
    kwargs = {"json": {"evidence": "x"}} if method == "post" else {}
    resp = getattr(gateway.client, method)(path, headers=gateway.auth(), **kwargs)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"]


def test_in_range_unknown_id_is_404(gateway: Gateway) -> None:
    resp = gateway.client.get(f"/api/grievances/{2**63 - 1}", headers=gateway.auth())
    assert resp.status_code == 404
