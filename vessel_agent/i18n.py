"""Message catalogs: every word the crew sees comes from ``vessel_agent/locale/<lang>.toml``.

TOML rather than gettext ``.po``: no compile step, no extra dependency, readable by translators,
and the keys are stable identifiers (``cat.17``, ``case.2``, ``note.4``) that the shore refers to
by number — a status note travels as a small integer (``CaseStatus.note``) and is rendered here,
in the receipt holder's language. ``en`` is the reference; a key missing elsewhere falls back to
English (a test keeps every catalog complete).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from protocol.category import Category, Group

#: Crew languages in the order the start page offers them (ARCHITECTURE.md).
LANGS: tuple[str, ...] = ("my", "th", "km", "id", "vi", "tl", "en")
REFERENCE = "en"

#: Groups and categories the crew can pick, grouped as FIELD-FACTS §8 (meta codes excluded
#: except "something else"; status requests and withdrawals are not grievances).
URGENT: tuple[int, ...] = tuple(int(c) for c in Category if c.group is Group.URGENT)
GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    *(
        (f"{g.value:X}", tuple(int(c) for c in Category if c.group is g))
        for g in (Group.FORCED_LABOUR, Group.C188, Group.FISHING)
    ),
    ("0", (int(Category.UNSPECIFIED),)),
)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


@cache
def load(lang: str) -> dict[str, str]:
    """The flat catalog of ``lang`` (``{"ui.send": "Send", "cat.17": …}``).

    Raises:
        KeyError: no catalog for that language.
    """
    if lang not in LANGS:
        raise KeyError(lang)
    text = resources.files("vessel_agent.locale").joinpath(f"{lang}.toml").read_text("utf-8")
    return _flatten(tomllib.loads(text))


class Catalog:
    """Look-ups in one language with English fallback."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else REFERENCE
        self._own = load(self.lang)
        self._ref = load(REFERENCE)

    def __call__(self, key: str, **fmt: Any) -> str:
        text = self._own.get(key) or self._ref.get(key) or key
        return text.format(**fmt) if fmt else text

    def category(self, code: int) -> str:
        return self(f"cat.{code:02X}")

    def group(self, key: str) -> str:
        return self(f"group.{key}")

    def case_state(self, code: int) -> str:
        return self(f"case.{code}")

    def note(self, code: int) -> str:
        return "" if code == 0 else self(f"note.{code}")

    def delivery(self, state: str) -> str:
        return self(f"delivery.{state}")

    @property
    def name(self) -> str:
        return self("language_name")
