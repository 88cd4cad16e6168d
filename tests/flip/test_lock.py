"""requirements.lock pins, with hashes, every dependency pyproject.toml names (make setup
installs from it, so a fresh machine gets exactly what CI ran; `make lock` rewrites it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    return {_name(n): v for n, v in re.findall(r"^([A-Za-z0-9][\w.-]*)==(\S+)", text, re.M)}


def test_every_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    pins = _pins()
    missing = sorted(_name(r) for r in wanted if _name(r) not in pins)
    assert missing == [], f"not in requirements.lock (run `make lock`): {missing}"
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    blocks = re.split(r"^(?=[A-Za-z0-9][\w.-]*==)", text, flags=re.M)[1:]
    assert blocks and all("--hash=sha256:" in b for b in blocks)


def test_lock_names_no_machine() -> None:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert "file://" not in text and "--find-links" not in text and "/opt/" not in text
