"""Build the woff2 font subsets the crew app and the shore pages ship (flip/assets/fonts/).

Terminals do not shape Burmese, Khmer or Thai and many machines (kiosk boxes, staff laptops)
have no font for them, so both web apps serve these fonts themselves. Source: Debian's
``fonts-noto-core`` (Noto Sans, SIL Open Font License 1.1, no Reserved Font Name), subset to
the script's Unicode blocks with every OpenType layout feature kept, so shaping is unchanged.

    apt-get install fonts-noto-core && .venv/bin/python scripts/build_fonts.py

The output is committed; the machines that run flip-sync need neither the Debian package nor
fonttools. tests/flip/test_assets.py checks that the shipped files cover their blocks.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fontTools import subset

NOTO = Path("/usr/share/fonts/truetype/noto")
COPYRIGHT = Path("/usr/share/doc/fonts-noto-core/copyright")
OUT = Path(__file__).resolve().parent.parent / "flip" / "assets" / "fonts"

# Shared by every subset: space, digits and common punctuation, ZWSP/ZWNJ/ZWJ and the dotted
# circle that shapers draw under a stray combining mark.
COMMON = "U+0020-0040,U+00A0,U+200B-200D,U+2010-2027,U+25CC"
FONTS = {
    # family file stem → the script's blocks
    "NotoSansMyanmar": "U+1000-109F,U+A9E0-A9FF,U+AA60-AA7F",
    "NotoSansKhmer": "U+1780-17FF,U+19E0-19FF",
    "NotoSansThai": "U+0E00-0E7F",
}


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, blocks in FONTS.items():
        target = out / f"{stem}.woff2"
        subset.main(
            [
                str(NOTO / f"{stem}-Regular.ttf"),
                f"--unicodes={blocks},{COMMON}",
                "--layout-features=*",
                "--flavor=woff2",
                "--no-hinting",
                "--desubroutinize",
                "--name-IDs=*",
                f"--output-file={target}",
            ]
        )
        written.append(target)
    text = COPYRIGHT.read_text(encoding="utf-8")
    match = re.search(r"^License: OFL-1\.1\n((?: .*\n?)+)", text, re.MULTILINE)
    if match is None:
        sys.exit("the OFL-1.1 text was not found in the Debian copyright file")
    body = "\n".join("" if line == " ." else line[1:] for line in match.group(1).splitlines())
    (out / "OFL.txt").write_text(
        "Noto Sans Myanmar, Noto Sans Khmer, Noto Sans Thai\n"
        "Copyright 2010-2020 Google Inc. / Google LLC (https://notofonts.github.io/).\n"
        "Subset to their scripts' Unicode blocks for flip-sync (scripts/build_fonts.py).\n\n"
        "This Font Software is licensed under the SIL Open Font License, Version 1.1.\n\n"
        + body.strip()
        + "\n",
        encoding="utf-8",
    )
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    for path in build(parser.parse_args().out):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
