"""Docs that the code and the README point at exist, so a reference cannot rot silently."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("protocol", "firmware_bridge", "vessel_agent", "shore_gateway", "simulator", "flip")


def _sources() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def test_every_cited_doc_exists() -> None:
    missing = []
    for path in _sources():
        for cited in re.findall(r"\bdocs/[\w./-]+?\.md\b", path.read_text(encoding="utf-8")):
            if not (ROOT / cited).is_file():
                missing.append(f"{path.relative_to(ROOT)} cites {cited}")
    assert missing == []


def test_style_sections_cited_exist() -> None:
    style = (ROOT / "docs" / "style.md").read_text(encoding="utf-8")
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", style, re.MULTILINE)}
    for path in _sources():
        for n in re.findall(r"docs/style\.md §(\d+)", path.read_text(encoding="utf-8")):
            assert int(n) in sections, f"{path.relative_to(ROOT)} cites docs/style.md §{n}"
