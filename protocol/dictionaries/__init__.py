"""The preset deflate dictionaries of :mod:`protocol.text`, as published data files.

One file per dictionary version, language and byte form, in this package's directory::

    v1-my-scsu.bin    the SCSU-form dictionary of Burmese, version 1 (deflate of SCSU, 0x13)
    v1-my-utf8.bin    its UTF-8-form dictionary (deflate of UTF-8, 0x12)

for the language tags ``und en my th km id vi tl`` (:class:`~protocol.lang.Lang`). A file is the
raw ``zdict`` bytes, nothing else: another implementation reads these same files
(docs/wire-format.md §5). Where both forms are the same bytes (ASCII-only languages) both files
exist anyway, so a reader never has to know.

The files are read once, at import, like the code beside them (``pkgutil.get_data``, which
works from a wheel or a zip too); nothing is read at run time. They are checked against
:data:`SHA256`, the digest the wire format publishes, so a changed byte stops the import
rather than silently decoding every message with another dictionary.
"""

from __future__ import annotations

import hashlib
import pkgutil
from collections.abc import Mapping

from protocol.lang import Lang

__all__ = ["FORMS", "SHA256", "digest", "filename", "load"]

FORMS = ("scsu", "utf8")
"""The two byte forms, in the order of the ``(scsu, utf8)`` pairs :func:`load` returns."""

SHA256: Mapping[int, str] = {
    1: "52c6d806e17a364badbe929dc30c008263c065dbb037f4bd21e067192a9c4084",
}
"""``dictionaries_sha256`` per version: see :func:`digest`."""


def filename(version: int, lang: Lang, form: str) -> str:
    """``v1-my-scsu.bin``: the file of one dictionary."""
    return f"v{version}-{Lang(lang).tag}-{form}.bin"


def digest(dictionaries: Mapping[Lang, tuple[bytes, bytes]]) -> str:
    """``dictionaries_sha256``: SHA-256 over, for each language code in ascending order, the
    SCSU form then the UTF-8 form, each as a 4-byte big-endian length followed by its bytes."""
    h = hashlib.sha256()
    for lang in sorted(dictionaries):
        for data in dictionaries[lang]:
            h.update(len(data).to_bytes(4, "big") + data)
    return h.hexdigest()


def load(version: int) -> dict[Lang, tuple[bytes, bytes]]:
    """Language → ``(SCSU form, UTF-8 form)`` of one version, checked against :data:`SHA256`.

    Raises:
        ImportError: a file is missing or the files do not hash to the published digest.
    """
    out: dict[Lang, tuple[bytes, bytes]] = {}
    for lang in Lang:
        scsu_form, utf8_form = (
            pkgutil.get_data(__name__, filename(version, lang, f)) for f in FORMS
        )
        if scsu_form is None or utf8_form is None:
            raise ImportError(f"text dictionary files of version {version} are missing")
        out[lang] = (scsu_form, utf8_form)
    if digest(out) != SHA256.get(version):
        raise ImportError(
            f"text dictionary files of version {version} do not match their published SHA-256"
        )
    return out
