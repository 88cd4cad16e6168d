"""The demo fleet's registration, and its two vessels on the bigger links.

Next to the SBD vessels of :func:`simulator.demo._fleet`, ``flip demo`` runs:

* **MV Demo IMT** — a RockBLOCK 9704 emulated on a pseudo-terminal (JSPR; its Iridium link from
  the same scenario, time compressed) under a real agent (``--imt-serial``). Its MO messages
  reach the gateway as Cloudloop's webhook would post them (``/ingest/cloudloop``), and the
  gateway sends its downlinks through the emulated Cloudloop Data API (``cloudloop://THING``).
* **MV Demo Broadband** — an SBD modem as the others, plus a broadband window
  (``--broadband-url``): while the gateway answers, its agent posts its frames to
  ``/ingest/frames`` (free, so first) and takes its downlinks from the answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.fleet import VesselPlan
from simulator.link import DAY
from simulator.onboard import plan_link
from simulator.realtime import CompressedLink, enrol

THING = "demo-9704"
API_TOKEN = "demo-cloudloop-token"  # noqa: S105 - the emulated provider's, on loopback only


def register(
    root: Path,
    db: str,
    keys: dict[str, Any],
    env: dict[str, str],
    *,
    idx: int,
    name: str,
    imei: str,
    owner: str,
    links: list[str],
    mt_url: str,
    plan: VesselPlan,
    label: str,
) -> dict[str, Any]:
    """An agent directory (``flip vessel init`` with ``links``, its link options) and the
    vessel in the gateway's registry."""
    vdir = root / f"vessel-{idx + 1}"
    ircs, imo = f"HS{idx + 1:03d}DM", f"{9_700_000 + idx * 11}"
    ids = ["--owner", owner, "--ircs", ircs, "--imo", imo, "--flag", "THA"]
    enrol(vdir, db, keys, env, name=name, imei=imei, agent=links, mt_url=mt_url, registry=ids)
    return {"name": name, "dir": vdir, "ircs": ircs, "imo": imo, "track": plan, "link": label}


def link_vessels(
    first_idx: int,
    *,
    root: Path,
    db: str,
    http: int,
    keys: dict[str, Any],
    env: dict[str, str],
    emulators: list[Any],
    compressed: Any,
    plan: Any,
    sbd_modem: Any,
    owner: str,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The IMT vessel and the broadband vessel, and the environment the gateway needs for
    them (the emulated Cloudloop Data API). ``compressed(idx)`` gives a vessel's time-compressed
    Iridium link, ``plan(idx)`` its plan, ``sbd_modem(idx, imei)`` an emulated SBD modem and its
    MT URL."""
    from firmware_bridge.emulator9704 import Emulator9704

    imt_idx, ip_idx = first_idx, first_idx + 1
    imei = f"30043406{imt_idx:07d}"
    emu = Emulator9704(
        imei=imei,
        webhook=f"http://127.0.0.1:{http}/ingest/cloudloop",
        api_listen=("127.0.0.1", 0),
        api_token=API_TOKEN,
        thing_id=THING,
        link=compressed(imt_idx),
        segment_timeout_s=2.0,
        retry_initial_s=1.0,
        retry_max_s=10.0,
    ).start()
    emulators.append(emu)
    assert emu.api_address is not None
    imt = register(
        root,
        db,
        keys,
        env,
        idx=imt_idx,
        name="MV Demo IMT",
        imei=imei,
        owner=owner,
        links=["--imt-serial", emu.device],
        mt_url=f"cloudloop://{THING}",
        plan=plan(imt_idx),
        label="imt",
    )
    ip_imei = f"30023401{ip_idx:07d}"
    device, mt_url = sbd_modem(ip_idx, ip_imei)
    broadband = register(
        root,
        db,
        keys,
        env,
        idx=ip_idx,
        name="MV Demo Broadband",
        imei=ip_imei,
        owner=owner,
        links=["--serial", device, "--broadband-url", f"http://127.0.0.1:{http}/ingest/frames"],
        mt_url=mt_url,
        plan=plan(ip_idx),
        label="sbd+broadband",
    )
    gateway_env = {
        "FLIP_CLOUDLOOP_API": "http://{}:{}".format(*emu.api_address),
        "FLIP_CLOUDLOOP_API_TOKEN": API_TOKEN,
    }
    return [imt, broadband], gateway_env


def compressed_link(
    plan: VesselPlan, seed: int, idx: int, start: float, speedup: float
) -> CompressedLink:
    """A vessel's Iridium link from its plan, on the demo's compressed clock."""
    assert plan.idx == idx, "a plan drawn for another vessel"
    return CompressedLink(plan_link(plan, seed), start, speedup, 30 * DAY)
