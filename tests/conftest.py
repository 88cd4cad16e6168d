"""Suite-wide hooks: ``soak`` tests (minutes long) run only under ``make soak``."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FLIP_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak run: `make soak` (FLIP_SOAK=1)")
    for item in items:
        if item.get_closest_marker("soak"):
            item.add_marker(skip)
