"""`flip demo`: the whole system on one machine, on the embedded default.

A data directory (default ``.flip-demo``) gets shore keys, a SQLite gateway with the dashboard
and owner portal, and a small fleet: per vessel an emulated Iridium modem on a pseudo-terminal
(links from the ``calm`` scenario, time compressed) and a real ``flip vessel run`` agent on it —
SBD vessels, one with a RockBLOCK 9704 (IMT) and one with a broadband window besides its SBD
modem (:mod:`simulator.demolinks`).
Crew grievances in several languages are submitted through the agents' own CLI, positions are
fed as NAF lines and catch as a GDST/EPCIS document, so the dashboard shows the whole flow.
It then runs until Ctrl-C (or ``--duration``) and stops every part cleanly.

``--headless`` runs the simulator on the virtual clock instead — the real vessel sessions and
the gateway's shore logic (:mod:`protocol.shorecore`) over the in-memory store, not the SQL
gateway, dashboard or case desk — and prints the sim summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from simulator.democonvo import DemoConversation
from simulator.demolinks import compressed_link, link_vessels, register
from simulator.errors import RealtimeError
from simulator.fleet import plan_vessel, texts
from simulator.link import DAY
from simulator.realtime import CompressedLink, _flip, _free_port, _Procs

MARKER = ".flip-demo"
VOICE_NOTE = "voice-id.flac"  # simulator/data; see simulator/data/README.md
OWNERS = ("Andaman Star Fishing Co.", "Pacific Blue Fisheries")
# (language, category) of the grievances the demo crews submit, urgent one included.
SUBMISSIONS = [
    ("my", 0x17),
    ("th", 0x16),
    ("km", 0x18),
    ("id", 0x1A),
    ("vi", 0x25),
    ("tl", 0x22),
    ("en", 0xF1),
    ("my", 0x30),
    ("th", 0x14),
    ("en", 0x37),
]


@dataclass(frozen=True, slots=True)
class DemoConfig:
    directory: Path
    vessels: int = 5
    speedup: float = 720.0  # one day of link time in two minutes
    http_port: int = 8765
    duration: float | None = None
    seed: int = 1


def prepare(directory: Path) -> None:
    """A fresh data directory; a previous demo's directory is replaced cleanly."""
    if directory.exists():
        if not (directory / MARKER).exists():
            raise RealtimeError(
                f"{directory} exists and is not a flip demo directory; choose another --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("created by `flip demo`; replaced by the next run\n")


def _port(preferred: int) -> int:
    """``preferred`` if it is free, else any free port (0 means any)."""
    import socket

    if preferred == 0:
        return _free_port()
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return _free_port()
    return preferred


def _naf(vessel: str, ircs: str, lat: float, lon: float, when: float) -> str:
    t = time.gmtime(when)
    return (
        f"//SR//AD/THA//FR/THA//RD/{time.strftime('%Y%m%d', t)}//RT/{time.strftime('%H%M', t)}"
        f"//FS/THA//RC/{ircs}//NA/{vessel}//DA/{time.strftime('%Y%m%d', t)}"
        f"//TI/{time.strftime('%H%M', t)}//LT/{lat:.3f}//LG/{lon:.3f}//SP/85//CO/210//TM/POS//ER//"
    )


def _epcis(vessel: str, imo: str, trip_day: str, lot: str) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": f"{trip_day}T00:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventID": f"urn:uuid:{random.Random(lot).getrandbits(128):032x}",  # noqa: S311
                    "eventTime": f"{trip_day}T06:00:00Z",
                    "eventTimeZoneOffset": "+07:00",
                    "action": "ADD",
                    "bizStep": "urn:gdst:bizStep:fishingEvent",
                    "quantityList": [{"epcClass": lot, "quantity": 1200, "uom": "KGM"}],
                    "ilmd": {
                        "cbvmda:vesselCatchInformationList": {
                            "cbvmda:vesselCatchInformation": [
                                {
                                    "cbvmda:vesselName": vessel,
                                    "cbvmda:vesselID": imo,
                                    "gdst:imoNumber": imo,
                                    "cbvmda:vesselFlagState": "THA",
                                    "cbvmda:catchArea": "urn:gdst:fao:57",
                                    "gdst:vesselTripDate": trip_day,
                                }
                            ]
                        }
                    },
                }
            ]
        },
    }


#: Response clocks × this in the demo gateway (FLIP_CASES_CLOCK_SCALE): 20× fast.
CLOCK_SCALE = 0.05


def run(cfg: DemoConfig, emit_ready: Any) -> dict[str, Any]:
    """Start everything, call ``emit_ready(info)``, run until stopped; returns what was seen."""
    import httpx

    prepare(cfg.directory)
    root = cfg.directory.resolve()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = _Procs()
    emulators: list[Any] = []
    stop = {"now": False}

    def _stop(_sig: int, _frame: Any) -> None:
        stop["now"] = True

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        keys = _flip(
            ["keys", "new", "--role", "shore", "--name", "shore", "--dir", str(root / "keys")], env
        )
        db = f"sqlite:///{root / 'gateway.sqlite3'}"
        dip, http = _free_port(), _port(cfg.http_port)
        vessels, gateway_env = _fleet(cfg, root, db, (dip, http), keys, env, emulators)
        staff = _flip(
            ["gateway", "user", "add", "--db", db, "--name", "staff", "--role", "staff"], env
        )["token"]
        owner = _flip(
            [
                "gateway",
                "user",
                "add",
                "--db",
                db,
                "--name",
                "owner",
                "--role",
                "owner",
                "--owner",
                OWNERS[0],
            ],
            env,
        )["token"]
        # Case response clocks run CLOCK_SCALE fast, like the link's compressed time, so the
        # urgent case's 30 minutes run out on screen (docs/cases.md, "Response clocks").
        clocks = {"FLIP_CASES_CLOCK_SCALE": str(CLOCK_SCALE)}
        procs.gateway(db, http, dip, root / "keys", {**env, **gateway_env, **clocks})
        for v in vessels:
            # Each vessel's crew app (docs/crew-app.md), as its box's own screen would open it.
            v["crew_app"] = f"http://127.0.0.1:{_free_port()}/"
            procs.start(
                [
                    "vessel",
                    "run",
                    "--dir",
                    str(v["dir"]),
                    "--json",
                    "--crew-http",
                    v["crew_app"][len("http://") : -1],
                ],
                env,
            )
        for emu in emulators:
            if isinstance(emu.machine.link, CompressedLink):
                emu.machine.link.start = time.time()
        base = f"http://127.0.0.1:{http}"
        client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {staff}"}, timeout=10
        )
        _context(client, vessels)
        submitted = _submit(vessels, env, random.Random(cfg.seed))  # noqa: S311
        info = {
            "dashboard": f"{base}/dashboard",
            "portal": f"{base}/portal",
            "staff_login": {"user": "staff", "token": staff},
            "owner_login": {"user": "owner", "token": owner, "owner": OWNERS[0]},
            "crew_terminal": f"flip vessel terminal --dir {vessels[0]['dir']}",
            "crew_apps": [{"vessel": v["name"], "url": v["crew_app"]} for v in vessels],
            "data_dir": str(root),
            "vessels": [v["name"] for v in vessels],
            "links": {v["name"]: v["link"] for v in vessels},
            "submitted": len(submitted),
            "clock_scale_x": round(1 / CLOCK_SCALE),
            # A demo prints receipts so a tester can follow a message as its crew member would;
            # a real vessel shows a receipt only to the person who submitted.
            "receipts": submitted,
            "receipt_lookup": f"flip vessel status --dir {vessels[0]['dir']} --receipt CODE",
        }
        talk = DemoConversation(client, submitted[0], str(vessels[0]["dir"]), env, _flip)
        info["conversation"] = talk.info()
        emit_ready(info)
        deadline = None if cfg.duration is None else time.time() + cfg.duration
        ashore = 0
        while not stop["now"] and (deadline is None or time.time() < deadline):
            time.sleep(0.5)
            for p in procs.procs:
                if p.poll() is not None:
                    raise RealtimeError(f"a demo process exited early (status {p.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                ashore = len(client.get("/api/grievances").json())
            with contextlib.suppress(httpx.HTTPError, RealtimeError):
                talk.step()  # staff ask the first crew member; they answer on board
        client.close()
        return {**info, "ashore": ashore}
    finally:
        procs.stop()
        for emu in emulators:
            with contextlib.suppress(Exception):
                emu.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _fleet(
    cfg: DemoConfig,
    root: Path,
    db: str,
    ports: tuple[int, int],
    keys: dict[str, Any],
    env: dict[str, str],
    emulators: list[Any],
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Per vessel: an emulated modem on a pty, an agent directory, a registry entry — the SBD
    vessels, then one on IMT and one with a broadband window (:mod:`simulator.demolinks`).
    Returns them and the environment the gateway needs for them."""
    from firmware_bridge.emulator import Emulator
    from simulator.scenario import load

    dip, http = ports
    scenario = load("calm")
    start = time.time()

    def plan(idx: int) -> Any:
        return plan_vessel(scenario, idx, 0, cfg.seed, 30, {})

    def link(idx: int) -> Any:
        return compressed_link(plan(idx), cfg.seed, idx, start, cfg.speedup)

    def sbd_modem(idx: int, imei: str) -> tuple[str, str]:
        emu = Emulator(
            imei=imei, directip=("127.0.0.1", dip), mt_listen=("127.0.0.1", 0), link=link(idx)
        ).start()
        emulators.append(emu)
        assert emu.mt_address is not None
        return emu.device, "directip://{}:{}".format(*emu.mt_address)

    vessels = []
    for idx in range(cfg.vessels):
        imei = f"30023401{idx:07d}"
        device, mt_url = sbd_modem(idx, imei)
        vessels.append(
            register(
                root,
                db,
                keys,
                env,
                idx=idx,
                name=f"MV Demo {idx + 1}",
                imei=imei,
                owner=OWNERS[idx % len(OWNERS)],
                links=["--serial", device],
                mt_url=mt_url,
                plan=plan(idx),
                label="sbd",
            )
        )
    more, gateway_env = link_vessels(
        cfg.vessels,
        root=root,
        db=db,
        http=http,
        keys=keys,
        env=env,
        emulators=emulators,
        compressed=link,
        plan=plan,
        sbd_modem=sbd_modem,
        owner=OWNERS[0],
    )
    return vessels + more, gateway_env


def _context(client: Any, vessels: list[dict[str, Any]]) -> None:
    """Feed positions (NAF, as a VMS provider would) and one catch event per vessel."""
    now = time.time()
    lines = []
    for v in vessels:
        for k in range(12):
            when = now - (12 - k) * 3600
            lat, lon = v["track"].position((when - now) % DAY)
            lines.append(_naf(v["name"], v["ircs"], lat, lon, when))
    client.post(
        "/positions/naf", content="\n".join(lines), headers={"Content-Type": "text/plain"}
    ).raise_for_status()
    day = time.strftime("%Y-%m-%d", time.gmtime(now - 2 * DAY))
    for i, v in enumerate(vessels):
        lot = f"urn:gdst:example.org:lot:class:demo.{i + 1}.{day}"
        client.post("/catch/epcis", json=_epcis(v["name"], v["imo"], day, lot)).raise_for_status()


def _submit(
    vessels: list[dict[str, Any]], env: dict[str, str], rng: random.Random
) -> list[dict[str, Any]]:
    """Crew grievances through each vessel's own `flip vessel submit`."""
    corpus = texts()
    out = []
    for n, (lang, category) in enumerate(SUBMISSIONS):
        v = vessels[n % len(vessels)]
        text = rng.choice(corpus[lang])
        r = _flip(
            [
                "vessel",
                "submit",
                "--dir",
                str(v["dir"]),
                "--category",
                f"0x{category:02X}",
                "--lang",
                lang,
                "--text",
                text,
            ],
            env,
        )
        out.append({"vessel": v["name"], "seq": r["seq"], "receipt": r.get("receipt")})
    # One crew member speaks instead of writing: an Indonesian voice note (espeak-ng, 8.4 s),
    # encoded to Codec2 700C and sealed on board like the others.
    v = vessels[1 % len(vessels)]
    with resources.as_file(resources.files("simulator.data").joinpath(VOICE_NOTE)) as path:
        r = _flip(
            [
                "vessel",
                "submit",
                "--dir",
                str(v["dir"]),
                "--category",
                "0x17",
                "--lang",
                "id",
                "--voice",
                str(path),
            ],
            env,
        )
    out.append(
        {
            "vessel": v["name"],
            "seq": r["seq"],
            "receipt": r.get("receipt"),
            "voice_s": r.get("duration_s"),
        }
    )
    return out


def headless(vessels: int, days: float, seed: int) -> dict[str, Any]:
    """The simulator on the virtual clock (the shore core in memory): its summary."""
    from simulator.run import RunConfig, default_workers, simulate
    from simulator.scenario import load

    report, _ = simulate(
        load("calm"),
        RunConfig(vessels=vessels, days=days, seed=seed, workers=default_workers(vessels)),
    )
    summary: dict[str, Any] = report["summary"]
    return summary


def human(info: dict[str, Any]) -> str:
    return "\n".join(
        [
            "flip-sync demo is running (Ctrl-C stops it).",
            f"  dashboard:     {info['dashboard']}",
            f"  staff login:   user {info['staff_login']['user']!r}, "
            f"token {info['staff_login']['token']}",
            f"  owner portal:  {info['portal']} — user {info['owner_login']['user']!r}, "
            f"token {info['owner_login']['token']} ({info['owner_login']['owner']})",
            f"  crew terminal: {info['crew_terminal']}",
            *(f"  crew app:      {c['url']} ({c['vessel']})" for c in info["crew_apps"]),
            f"  a receipt:     {info['receipts'][0]['receipt']} ({info['receipts'][0]['vessel']}); "
            f"look it up in the crew terminal or: {info['receipt_lookup']}",
            "  conversation:  staff ask the crew member of receipt "
            f"{info['conversation']['receipt']} "
            "'are you safe now?' (in Burmese); the answer appears on the case page, "
            "'Ask the crew member'",
            f"  vessels:       {', '.join(f'{n} ({k})' for n, k in info['links'].items())}",
            f"  {info['submitted']} grievances submitted on board; watch them arrive ashore.",
            f"  case clocks:   {info['clock_scale_x']}x fast (the urgent case's 30 min run out in "
            f"{30 / info['clock_scale_x']:.1f} min unless staff acknowledge it)",
            f"  data:          {info['data_dir']}",
        ]
    )


def dumps(info: dict[str, Any]) -> str:
    return json.dumps(info, ensure_ascii=False, sort_keys=True)
