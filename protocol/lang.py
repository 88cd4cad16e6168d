"""Compact language tags: one CBOR byte instead of a BCP 47 string (docs/wire-format.md)."""

from __future__ import annotations

from enum import IntEnum

from protocol.errors import LocalProtocolError, Malformed


class Lang(IntEnum):
    """Wire codes of the crew languages. 0 = not stated. New codes only ever get appended."""

    UND = 0
    EN = 1
    MY = 2  # Burmese
    TH = 3  # Thai
    KM = 4  # Khmer
    ID = 5  # Indonesian
    VI = 6  # Vietnamese
    TL = 7  # Tagalog / Filipino

    @property
    def tag(self) -> str:
        """The BCP 47 tag ("my", "th", … or "und")."""
        return self.name.lower()


LANGS: tuple[str, ...] = tuple(lang.tag for lang in Lang if lang is not Lang.UND)


def lang_from_tag(tag: str) -> Lang:
    """``"my"`` → :attr:`Lang.MY`. Raises :class:`LocalProtocolError` for unknown tags."""
    try:
        return Lang[tag.strip().upper()]
    except KeyError:
        raise LocalProtocolError(
            f"unknown language {tag!r}; expected one of {', '.join(LANGS)}"
        ) from None


def lang_from_code(code: int) -> Lang:
    """Wire byte → :class:`Lang`; an unknown code from a peer is :class:`Malformed`."""
    try:
        return Lang(code)
    except ValueError:
        raise Malformed(f"unknown language code {code}") from None
