"""The crew app's front end: one source of strings, a bundle that is what its lock file builds,
and HPKE in the page that interoperates with the protocol's (Python `cryptography`) both ways."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import keys
from protocol.seal import open_sealed, seal
from vessel_agent import i18n
from vessel_agent.crewapp import intake, service

APP = Path(intake.__file__).resolve().parent
WEB = APP / "web"
STATIC = APP / "static"
SHIPPED = ("app.js", "app.css", "licenses.txt")


def test_every_string_the_page_and_service_use_is_in_every_catalog() -> None:
    source = (WEB / "src" / "app.js").read_text("utf-8")
    used = set(re.findall(r"""\btr\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""", source))
    used |= set(re.findall(r'"(ui\.[a-z_]+)"', Path(service.__file__).read_text("utf-8")))
    assert len(used) > 30
    for lang in i18n.LANGS:
        missing = used - set(i18n.load(lang))
        assert not missing, (lang, sorted(missing))
    # Keys built at run time (cat.*, group.*, case.*, delivery.*, note.*) are the terminal's,
    # complete in every catalog (tests/vessel_agent/test_terminal_privacy.py).


def test_the_page_loads_nothing_from_elsewhere() -> None:
    html = (STATIC / "index.html").read_text("utf-8")
    for text in (html, (STATIC / "app.css").read_text("utf-8")):
        assert not re.search(r"(https?:)?//[a-z0-9]", text.replace("http-equiv", ""))
    js = (STATIC / "app.js").read_text("utf-8")
    assert not re.search(r"""["'`](https?:)?//""", js)  # no absolute URL in any string


def _node() -> str:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.fail("node/npm missing: run scripts/ensure-services.sh (installs nodejs npm)")
    return node


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """web/ copied without node_modules, `npm ci` from its lock, `node build.mjs OUT`."""
    _node()
    work = tmp_path_factory.mktemp("web")
    for item in WEB.iterdir():
        if item.name != "node_modules":
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, work / item.name)
    npm = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(npm, cwd=work, check=True, timeout=300, capture_output=True)
    out = work / "out"
    out.mkdir()
    subprocess.run(["node", "build.mjs", str(out)], cwd=work, check=True, timeout=120)
    return work


@pytest.mark.slow
def test_the_shipped_bundle_is_what_the_lock_file_builds(rebuilt: Path) -> None:
    for name in SHIPPED:
        assert (rebuilt / "out" / name).read_bytes() == (STATIC / name).read_bytes(), (
            f"static/{name} differs from a rebuild: run `npm ci && npm run build` in "
            "vessel_agent/crewapp/web and commit the result"
        )


def _js(rebuilt: Path, script: str) -> str:
    (rebuilt / "t.mjs").write_text(script, "utf-8")
    out = subprocess.run(["node", "t.mjs"], cwd=rebuilt, check=True, timeout=60,
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout.strip()


@pytest.mark.slow
def test_page_hpke_interoperates_with_the_protocols_both_ways(rebuilt: Path) -> None:
    box = X25519PrivateKey.generate()
    pub = keys.raw_public(box.public_key()).hex()
    words = "ကျွန်တော်တို့ လစာ သုံးလ မရသေးပါဘူး။ ខ្ញុំ ไทย"
    # Page → agent: sealed in JS, opened by protocol.seal.
    sealed = _js(
        rebuilt,
        f"""
import {{ seal }} from "./src/hpke.js";
const pk = Uint8Array.from(Buffer.from("{pub}", "hex"));
const out = seal(pk, new TextEncoder().encode("{intake.INFO_REQUEST.decode()}"),
                 new TextEncoder().encode({words!r}));
console.log(Buffer.from(out).toString("hex"));
""",
    )
    assert open_sealed(bytes.fromhex(sealed), [box], intake.INFO_REQUEST).decode() == words
    with pytest.raises(Exception, match="does not open"):
        open_sealed(bytes.fromhex(sealed), [box], intake.INFO_REPLY)  # bound to its info
    # Agent → page: sealed by protocol.seal to a key the page made, opened in JS.
    page = X25519PrivateKey.generate()
    answer = seal(words.encode(), page.public_key(), intake.INFO_REPLY).hex()
    sk = page.private_bytes_raw().hex()
    opened = _js(
        rebuilt,
        f"""
import {{ open }} from "./src/hpke.js";
const sk = Uint8Array.from(Buffer.from("{sk}", "hex"));
const pt = open(sk, new TextEncoder().encode("{intake.INFO_REPLY.decode()}"),
                Uint8Array.from(Buffer.from("{answer}", "hex")));
console.log(new TextDecoder().decode(pt));
let refused = false;
try {{
  const bad = Uint8Array.from(Buffer.from("{answer}", "hex")); bad[40] ^= 1;
  open(sk, new TextEncoder().encode("{intake.INFO_REPLY.decode()}"), bad);
}} catch {{ refused = true; }}
console.log(refused);
""",
    )
    assert opened.splitlines() == [words, "true"]
