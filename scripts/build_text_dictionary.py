"""Build the preset deflate dictionaries of ``protocol/text.py`` from the training corpus.

Usage::

    python scripts/build_text_dictionary.py          # rewrite protocol/dictionaries/v1-*.bin
    python scripts/build_text_dictionary.py --check  # exit 1 if the files are out of date

The corpus is ``data/text-corpus/<lang>.txt`` (UTF-8, one sentence or phrase a line, ``#``
lines are comments). For every language, and for a shared dictionary over all languages used
for :attr:`Lang.UND`, the script produces two dictionaries: one made of SCSU bytes (Unicode
TR #6) and one of UTF-8 bytes, because deflate matches bytes and each method of the codec
compresses a different byte form of the text.

Segment selection follows the COVER algorithm (Liao, Petri, Moffat, Wirth, "Effective
construction of relative Lempel-Ziv dictionaries", WWW 2016 — the method behind
``zstd --train``, applied here to deflate): every *d*-byte substring ("d-mer") is weighted by
the number of corpus lines containing it; a *k*-byte segment is worth the summed weight of the
d-mers it covers that no chosen segment covers yet; segments are picked greedily (lazily
re-scored, since a segment's worth only falls) until the byte budget is spent. Deflate
(RFC 1951 §3.2.5) reaches 32 KiB back and shorter distances cost fewer extra bits, so the most
valuable segment goes at the *end* of the dictionary.

The output is deterministic: same corpus, same bytes. Changing it requires a new
``DICT_VERSION`` in ``protocol/text.py``, new ``vN-*.bin`` files (the old ones stay) and their
digest in ``protocol.dictionaries.SHA256``.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # allow `python scripts/build_text_dictionary.py` from anywhere
    sys.path.insert(0, str(ROOT))

from protocol import scsu  # noqa: E402
from protocol.dictionaries import FORMS, SHA256, digest, filename  # noqa: E402
from protocol.lang import Lang  # noqa: E402

CORPUS_DIR = ROOT / "data" / "text-corpus"
OUTPUT = ROOT / "protocol" / "dictionaries"
VERSION = 1

SEGMENT = 64  # k: bytes per candidate segment
DMER = 8  # d: bytes per scored substring

# Bytes per dictionary, (SCSU form, UTF-8 form). Each language gets its large dictionary in the
# form its texts compress best in: SCSU for the non-Latin scripts (one byte per character),
# UTF-8 for Vietnamese (SCSU switches windows between Latin and the U+1Exx vowels). For ASCII
# text the two forms are the same bytes and are stored once. Measured on held-out training lines:
# 4 KiB → 8 KiB saves ~5 %; beyond 8 KiB the corpus is exhausted. A dictionary shared by all
# languages did far worse than per-language ones of a quarter of its size, so the shared one is
# used only for Lang.UND.
BUDGETS: Mapping[Lang, tuple[int, int]] = {
    Lang.UND: (4096, 4096),
    Lang.EN: (8192, 8192),
    Lang.MY: (8192, 1024),
    Lang.TH: (8192, 1024),
    Lang.KM: (8192, 1024),
    Lang.ID: (8192, 8192),
    Lang.VI: (1024, 8192),
    Lang.TL: (8192, 8192),
}


def read_corpus(directory: Path = CORPUS_DIR) -> dict[Lang, list[str]]:
    """Read ``<lang>.txt`` for every language; blank and ``#`` lines are skipped."""
    corpus: dict[Lang, list[str]] = {}
    for lang in Lang:
        if lang is Lang.UND:
            continue
        text = (directory / f"{lang.tag}.txt").read_text(encoding="utf-8")
        lines = [line.strip() for line in text.splitlines()]
        corpus[lang] = [line for line in lines if line and not line.startswith("#")]
    return corpus


def _dmers(sample: bytes, d: int) -> set[bytes]:
    return {sample[i : i + d] for i in range(len(sample) - d + 1)}


def cover_segments(
    samples: Sequence[bytes], budget: int, k: int = SEGMENT, d: int = DMER
) -> list[bytes]:
    """Choose segments of *samples* worth up to *budget* bytes, most valuable first."""
    counts: Counter[bytes] = Counter()
    for sample in samples:
        counts.update(_dmers(sample, d))
    weight = dict(counts)  # every d-mer of every candidate is a key

    heap: list[tuple[int, int, bytes]] = []
    mers: list[tuple[bytes, ...]] = []  # candidate order → its distinct d-mers
    seen: set[bytes] = set()
    for sample in samples:
        for i in range(max(1, len(sample) - k + 1)):
            segment = sample[i : i + k]
            if len(segment) >= d and segment not in seen:
                seen.add(segment)
                mers.append(tuple(_dmers(segment, d)))
                heap.append((-sum(map(weight.__getitem__, mers[-1])), len(heap), segment))
    heapq.heapify(heap)

    chosen: list[bytes] = []
    total = 0
    while heap and total < budget:
        _, order, segment = heapq.heappop(heap)
        current = sum(map(weight.__getitem__, mers[order]))
        if current == 0:
            continue  # fully covered by segments already chosen
        if heap and current < -heap[0][0]:
            heapq.heappush(heap, (-current, order, segment))  # worth less now: re-queue
            continue
        # Trim ends whose d-mers are already covered (worth nothing).
        positions = [i for i in range(len(segment) - d + 1) if weight[segment[i : i + d]]]
        segment = segment[positions[0] : positions[-1] + d]
        for m in _dmers(segment, d):
            weight[m] = 0
        chosen.append(segment)
        total += len(segment)
    return chosen


def assemble(segments: Iterable[bytes], budget: int) -> bytes:
    """Concatenate best-last and keep the final *budget* bytes."""
    return b"".join(reversed(list(segments)))[-budget:]


def _encode(line: str, form: str) -> bytes:
    return scsu.encode(line) if form == "scsu" else line.encode(form)


def build_dictionaries(
    corpus: Mapping[Lang, Sequence[str]],
    budgets: Mapping[Lang, tuple[int, int]] = BUDGETS,
) -> dict[Lang, tuple[bytes, bytes]]:
    """Per language: ``(scsu_dictionary, utf8_dictionary)``; :attr:`Lang.UND` gets a shared one."""
    out: dict[Lang, tuple[bytes, bytes]] = {}
    forms = ("scsu", "utf-8")
    everyone: dict[str, list[list[bytes]]] = {form: [] for form in forms}
    for lang in sorted(corpus):
        pair = []
        for form, budget in zip(forms, budgets[lang], strict=True):
            samples = [_encode(line, form) for line in corpus[lang]]
            everyone[form].append(samples)
            pair.append(assemble(cover_segments(samples, budget), budget))
        out[lang] = (pair[0], pair[1])
    shared = []
    for form, budget in zip(forms, budgets[Lang.UND], strict=True):
        per_lang = everyone[form]
        # Interleave languages so that no one language owns the cheap end of the window.
        shortest = min(map(len, per_lang))
        samples = [s for group in zip(*per_lang, strict=False) for s in group]
        samples += [s for group in per_lang for s in group[shortest:]]
        shared.append(assemble(cover_segments(samples, budget), budget))
    out[Lang.UND] = (shared[0], shared[1])
    return dict(sorted(out.items()))


def files(dictionaries: Mapping[Lang, tuple[bytes, bytes]]) -> dict[str, bytes]:
    """File name → bytes of every published dictionary file (both forms of every language)."""
    return {
        filename(VERSION, lang, form): data
        for lang, pair in dictionaries.items()
        for form, data in zip(FORMS, pair, strict=True)
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files are out of date")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    built = build_dictionaries(read_corpus(args.corpus))
    wanted = files(built)
    if args.check:
        stale = [
            name
            for name, data in wanted.items()
            if not (args.output / name).exists() or (args.output / name).read_bytes() != data
        ]
        if stale or digest(built) != SHA256[VERSION]:
            print(f"out of date: {', '.join(stale) or 'SHA256'}; run {Path(__file__).name}")
            return 1
        print(f"{len(wanted)} dictionary files are up to date (sha256 {digest(built)})")
        return 0
    for name, data in wanted.items():
        (args.output / name).write_bytes(data)
    print(f"wrote {len(wanted)} files; dictionaries_sha256 = {digest(built)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
