"""Fixtures: an initialised agent directory with deterministic shore keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol import keys
from tests.helpers import ShoreKeys, det_rng, shore_keys
from vessel_agent.config import AgentDir
from vessel_agent.setup import init_dir

IMEI = "300234010753370"


@dataclass
class AgentFixture:
    dir: Path
    shore: ShoreKeys
    kid: bytes


def make_agent_dir(
    root: Path, name: str = "agent", serial: str = "", **extra: object
) -> AgentFixture:
    shore = shore_keys()
    seal = root / "shore_seal.pub"
    sign = root / "shore_sign.pub"
    seal.write_bytes(keys.public_pem(shore.seal.public_key()))
    sign.write_bytes(keys.public_pem(shore.sign.public_key()))
    d = root / name
    out = init_dir(
        str(d),
        name="MV Test",
        imei=IMEI,
        seal_pub=str(seal),
        shore_sign_pub=str(sign),
        serial=serial,
        rng=det_rng(f"device-{name}"),
    )
    if extra:
        ad = AgentDir(d)
        cfg = ad.load()
        for key, value in extra.items():
            setattr(cfg, key, value)
        ad.save(cfg)
    return AgentFixture(dir=d, shore=shore, kid=bytes.fromhex(out["kid"]))


@pytest.fixture
def agent_dir(tmp_path: Path) -> AgentFixture:
    return make_agent_dir(tmp_path)
