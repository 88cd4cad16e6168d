"""A real browser for the page tests, one way for every suite: Debian's Chromium (from the
system package, which ``scripts/ensure-services.sh`` installs when missing) driven by
Playwright; Playwright's own browser download is never used."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("FLIP_CHROMIUM", "/usr/bin/chromium")
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@contextmanager
def chromium(*flags: str) -> Iterator[Any]:
    """A headless Chromium with :data:`ARGS` and ``flags`` (e.g. host-resolver rules, a fake
    microphone); fails the test, saying how to install it, when the browser is missing."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.fail(f"{CHROMIUM} missing: run scripts/ensure-services.sh (installs chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *flags], headless=True)
        try:
            yield browser
        finally:
            browser.close()
