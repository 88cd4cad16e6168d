"""Owner-portal strings in the seven crew languages (``locale/<lang>.toml``).

English is the reference: every catalog must carry exactly its keys and the same ``{0}``
placeholders (``tests/shore_gateway/web/test_catalog.py``), so a page can never show a raw key,
an English fallback in the middle of Thai, or ``None``. Non-English strings want native review
(said in each file's header), like the crew terminal's catalogs.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "locale"
#: The portal's languages, in the order of its language switch.
LANGS = ("en", "my", "th", "km", "id", "vi", "tl")
SECTIONS = ("portal", "phrase", "group", "status", "action")


@lru_cache(maxsize=len(LANGS))
def catalog(lang: str) -> dict[str, Any]:
    """The catalog of ``lang`` (unknown languages: English)."""
    if lang not in LANGS:
        lang = "en"
    with (HERE / f"{lang}.toml").open("rb") as fh:
        return tomllib.load(fh)


def strings(lang: str) -> dict[str, str]:
    """The ``[portal]`` strings of ``lang``."""
    return dict(catalog(lang)["portal"])


def phrases(lang: str) -> dict[str, str]:
    """The time phrases (``in {0}``, ``{0} ago``…) for :class:`~.timefmt.Humane`."""
    return dict(catalog(lang)["phrase"])


def labels(lang: str, section: str) -> dict[str, str]:
    """``group`` (by hex digit), ``status`` or ``action`` names in ``lang``."""
    return dict(catalog(lang)[section])


def language_names() -> dict[str, str]:
    """Each language in its own name, for the language switch."""
    return {lang: str(catalog(lang)["language_name"]) for lang in LANGS}
