"""Static assets shared by the crew app and the shore pages.

``FONTS_DIR`` holds woff2 subsets of Noto Sans Myanmar, Khmer and Thai (SIL OFL 1.1, licence in
``OFL.txt``) and ``fonts.css`` with their ``@font-face`` rules (relative URLs, so mount the
directory as a whole, e.g. at ``/fonts/``). Rebuilt by ``scripts/build_fonts.py``.
"""

from __future__ import annotations

from pathlib import Path

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILIES = ("Noto Sans Myanmar", "Noto Sans Khmer", "Noto Sans Thai")
# The CSS font stack both apps use: the shipped fonts first, then whatever the system has.
FONT_STACK = ", ".join(f'"{family}"' for family in FONT_FAMILIES) + ", system-ui, sans-serif"
