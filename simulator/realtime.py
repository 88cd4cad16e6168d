"""Real-time mode: the scenario against real processes, with a time-compression factor.

Parts: ``flip gateway serve`` (SQLite, DirectIP MO in, DirectIP MT out), one modem emulator per
vessel on a pty (threads in this process; its link model is the vessel's :class:`SimLink` with
virtual time = elapsed wall time × ``speedup``), and one ``flip vessel run`` agent per vessel on
that pty. Grievances are submitted with ``flip vessel submit`` at their compressed times and
counted ashore through the gateway's ``GET /api/grievances``.

Only the link and the scenario clock are compressed; the agents' own timers (retries, heartbeats,
ack timeouts) run in real time. Latencies are reported in wall seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_bridge.link import SessionOutcome
from simulator.errors import RealtimeError
from simulator.fleet import dark_vessels, groups, plan_vessel
from simulator.link import DAY, SimLink
from simulator.onboard import plan_link
from simulator.report import percentile
from simulator.scenario import Scenario

READY_TIMEOUT_S = 60.0


@dataclass(slots=True)
class CompressedLink:
    """A :class:`SimLink` seen through a compressed clock (firmware_bridge LinkModel)."""

    link: SimLink
    start: float
    speedup: float
    horizon: float

    def _virtual(self, now: float) -> float:
        return min(self.horizon, max(0.0, (now - self.start) * self.speedup))

    def session(self, now: float, mo_len: int) -> SessionOutcome:
        out = self.link.session(self._virtual(now), mo_len)
        return SessionOutcome(
            mo_status=out.mo_status, latency_s=out.latency_s / self.speedup, signal=out.signal
        )

    def signal(self, now: float) -> int:
        return self.link.signal(self._virtual(now))


@dataclass(slots=True)
class _Procs:
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, args: Sequence[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], Any]:
        """Start ``flip ARGS --json`` and wait for its one ready line."""
        p = subprocess.Popen(  # noqa: S603 - our own CLI, no shell
            [sys.executable, "-m", "flip", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.procs.append(p)
        line = _readline(p, READY_TIMEOUT_S)
        if not line:
            err = p.stderr.read() if p.poll() is not None and p.stderr else ""
            raise RealtimeError(f"`flip {' '.join(args[:2])}` did not start: {err.strip()[:300]}")
        return p, json.loads(line)

    def gateway(self, db: str, http: int, dip: int, keys: Path, env: dict[str, str]) -> None:
        """``flip gateway serve`` on loopback (HTTP ``http``, DirectIP ``dip``), once ready."""
        self.start(
            ["gateway", "serve", "--db", db, "--http", f"127.0.0.1:{http}",
             "--directip", f"127.0.0.1:{dip}", "--keys", str(keys), "--json"],
            env,
        )  # fmt: skip

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()


def _readline(p: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert p.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        if sel.select(timeout):
            return p.stdout.readline().strip()
        return ""
    finally:
        sel.close()


def _flip(args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    p = subprocess.run(  # noqa: S603 - our own CLI, no shell
        [sys.executable, "-m", "flip", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if p.returncode != 0:
        raise RealtimeError(f"`flip {' '.join(args[:3])}` failed: {p.stderr.strip()[:300]}")
    result: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return result


def enrol(
    vdir: Path,
    db: str,
    keys: dict[str, Any],
    env: dict[str, str],
    *,
    name: str,
    imei: str,
    agent: Sequence[str],
    mt_url: str,
    registry: Sequence[str] = (),
) -> dict[str, Any]:
    """A vessel as an operator sets one up: ``flip vessel init`` (with ``agent``'s link options)
    and ``flip gateway vessel add`` (with ``registry``'s identifiers); returns what init made."""
    made = _flip(
        ["vessel", "init", "--dir", str(vdir), "--name", name, "--imei", imei,
         "--seal-pub", keys["seal_public"], "--shore-sign-pub", keys["sign_public"], *agent],
        env,
    )  # fmt: skip
    _flip(
        ["gateway", "vessel", "add", "--db", db, "--name", name, "--imei", imei,
         "--sign-pub", made["sign_public"], *registry, "--mt-url", mt_url],
        env,
    )  # fmt: skip
    return made


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_realtime(
    scenario: Scenario,
    *,
    vessels: int,
    days: float,
    seed: int,
    speedup: float,
    drain_s: float = 120.0,
) -> dict[str, Any]:
    """Run the scenario for ``days`` of virtual time in ``days × 86400 / speedup`` wall seconds.

    Raises:
        RealtimeError: a process did not start or a command failed.
    """
    import httpx

    from firmware_bridge.emulator import Emulator

    if speedup <= 0:
        raise RealtimeError("--speedup must be positive")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = _Procs()
    emulators: list[Emulator] = []
    wall0 = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="flip-sim-rt-") as tmp:
            root = Path(tmp)
            keys = _flip(
                ["keys", "new", "--role", "shore", "--name", "shore", "--dir", str(root / "keys")],
                env,
            )
            db = f"sqlite:///{root / 'gateway.db'}"
            dip, http = _free_port(), _free_port()
            dark = dark_vessels(scenario, vessels, seed)
            group_of = groups(scenario, vessels)
            submissions: list[tuple[float, int, Any]] = []
            start = time.time()
            for idx in range(vessels):
                plan = plan_vessel(scenario, idx, group_of[idx], seed, days, dark)
                link = plan_link(plan, seed)
                imei = f"30023401{idx:07d}"
                emu = Emulator(
                    imei=imei,
                    directip=("127.0.0.1", dip),
                    mt_listen=("127.0.0.1", 0),
                    link=CompressedLink(link, start, speedup, days * DAY),
                ).start()
                emulators.append(emu)
                assert emu.mt_address is not None
                enrol(
                    root / f"vessel-{idx}",
                    db,
                    keys,
                    env,
                    name=plan.name,
                    imei=imei,
                    agent=["--serial", emu.device],
                    mt_url="directip://{}:{}".format(*emu.mt_address),
                )
                submissions += [(a.time, idx, a) for a in plan.arrivals]
            token = _flip(
                ["gateway", "user", "add", "--db", db, "--name", "sim", "--role", "staff"], env
            )["token"]
            procs.gateway(db, http, dip, root / "keys", env)
            for idx in range(vessels):
                # No crew app: a fleet of agents on one host would all ask for 127.0.0.1:8080.
                procs.start(
                    [
                        "vessel",
                        "run",
                        "--dir",
                        str(root / f"vessel-{idx}"),
                        "--json",
                        "--crew-http",
                        "",
                    ],
                    env,
                )
            # Restart the compressed clock now that everything is up.
            start = time.time()
            for emu in emulators:
                link_model = emu.machine.link
                if isinstance(link_model, CompressedLink):
                    link_model.start = start
            submitted: dict[tuple[str, int], float] = {}
            for t, idx, a in sorted(submissions, key=lambda s: (s[0], s[1])):
                time.sleep(max(0.0, start + t / speedup - time.time()))
                r = _flip(
                    [
                        "vessel",
                        "submit",
                        "--dir",
                        str(root / f"vessel-{idx}"),
                        "--category",
                        f"0x{a.category:02X}",
                        "--lang",
                        a.lang,
                        "--text",
                        a.text,
                    ],
                    env,
                )
                submitted[(f"sim-{idx:04d}", int(r["seq"]))] = time.time()
            time.sleep(max(0.0, start + days * DAY / speedup - time.time()))
            seen = _wait_ashore(httpx, http, token, submitted, drain_s)
    finally:
        procs.stop()
        for emu in emulators:
            with contextlib.suppress(Exception):
                emu.close()
    return _report(
        scenario, vessels, days, seed, speedup, submitted, seen, emulators, time.time() - wall0
    )


def _wait_ashore(
    httpx: Any, port: int, token: str, submitted: dict[tuple[str, int], float], drain_s: float
) -> dict[tuple[str, int], tuple[float, int]]:
    """Poll the gateway until every submitted grievance is listed (or ``drain_s`` passes)."""
    seen: dict[tuple[str, int], tuple[float, int]] = {}
    deadline = time.time() + drain_s
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ) as client:
        while True:
            rows = client.get("/api/grievances", params={"limit": 1000}).json()
            counts: dict[tuple[str, int], int] = {}
            for row in rows:
                key = (str(row.get("vessel")), int(row.get("seq", -1)))
                counts[key] = counts.get(key, 0) + 1
            now = time.time()
            for key, n in counts.items():
                first = seen.get(key, (now, n))[0]
                seen[key] = (first, n)
            if all(k in seen for k in submitted) or now > deadline:
                return seen
            time.sleep(0.5)


def _report(
    scenario: Scenario,
    vessels: int,
    days: float,
    seed: int,
    speedup: float,
    submitted: dict[tuple[str, int], float],
    seen: dict[tuple[str, int], tuple[float, int]],
    emulators: list[Any],
    wall: float,
) -> dict[str, Any]:
    lat = [seen[k][0] - t for k, t in submitted.items() if k in seen]
    delivered = sum(1 for k in submitted if k in seen)
    summary = {
        "created": len(submitted),
        "delivered": delivered,
        "lost": len(submitted) - delivered,
        "undeliverable": 0,
        "duplicates_surfaced": sum(n - 1 for _, n in seen.values() if n > 1),
        "latency_p50_s": _r(percentile(lat, 50)),
        "latency_p95_s": _r(percentile(lat, 95)),
        "oracle_p95_s": None,
        "bytes_on_air": None,
        "bytes_needed": None,
        "credits": None,
        "mo_delivered_by_emulators": sum(e.stats.delivered for e in emulators),
        "wall_s": round(wall, 1),
        "latency_unit": "wall seconds",
    }
    return {
        "summary": summary,
        "run": {
            "scenario": scenario.name,
            "vessels": vessels,
            "days": days,
            "seed": seed,
            "mode": "realtime",
            "speedup": speedup,
        },
        "grievances": None,
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)
