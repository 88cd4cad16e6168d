"""``flip vessel init``: create an agent directory with its config, keys and empty outbox."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

from protocol import keys
from protocol.errors import LocalProtocolError
from vessel_agent.config import (
    SHORE_SEAL_PUB,
    SHORE_SIGN_PUB,
    SIGN_KEY,
    SIGN_PUB,
    AgentConfig,
    AgentDir,
    write_atomic,
)
from vessel_agent.crewapp import intake
from vessel_agent.errors import ConfigError
from vessel_agent.outbox import Outbox


def init_dir(
    path: str,
    *,
    name: str,
    imei: str,
    seal_pub: str,
    shore_sign_pub: str,
    serial: str = "",
    gps: str = "",
    imt_serial: str = "",
    broadband_url: str = "",
    budget: int | None = None,
    force: bool = False,
    rng: Any = secrets.token_bytes,
) -> dict[str, Any]:
    """Make the agent directory; returns the paths and the device's key id.

    An existing device key is kept (re-running init must not orphan the key registered
    ashore); ``force`` only allows rewriting the config.

    Raises:
        ConfigError: bad arguments, unreadable shore keys, or an existing config without force.
    """
    d = AgentDir(path)
    cfg = AgentConfig(
        name=name,
        imei=imei,
        serial=serial,
        gps=gps,
        imt_serial=imt_serial,
        broadband_url=broadband_url,
    )
    if budget is not None:
        cfg.airtime_bytes_per_day = budget
    cfg.validate()
    if d.config_path.exists() and not force:
        raise ConfigError(f"{d.config_path} exists (use --force to rewrite the config)")
    try:
        seal_pem = Path(seal_pub).read_bytes()
        sign_pem = Path(shore_sign_pub).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read shore key: {exc}") from exc
    try:
        keys.load_seal_public(seal_pem)
        keys.load_verify_key(sign_pem)
    except LocalProtocolError as exc:
        raise ConfigError(f"shore key: {exc}") from exc
    try:
        d.path.mkdir(parents=True, exist_ok=True)
        d.path.chmod(0o700)
    except OSError as exc:
        raise ConfigError(f"cannot create {d.path}: {exc.strerror}") from exc
    key_path, pub_path = d.file(SIGN_KEY), d.file(SIGN_PUB)
    if key_path.exists():
        try:
            device_key = keys.load_signing_key(key_path.read_bytes())
        except LocalProtocolError as exc:
            raise ConfigError(f"{key_path}: {exc}") from exc
    else:
        device_key = keys.new_signing_key(rng)
        write_atomic(key_path, keys.private_pem(device_key), mode=0o600)
    write_atomic(pub_path, keys.public_pem(device_key.public_key()))
    for src, dst in ((seal_pub, SHORE_SEAL_PUB), (shore_sign_pub, SHORE_SIGN_PUB)):
        if Path(src).resolve() != d.file(dst).resolve():
            shutil.copyfile(src, d.file(dst))
    d.save(cfg)
    intake.load_or_create(d.path, rng)  # the crew app's intake key (kept if it exists)
    Outbox(d.db_path, max_queue_bytes=cfg.max_queue_bytes).close()
    return {
        "dir": str(d.path),
        "config": str(d.config_path),
        "db": str(d.db_path),
        "sign_private": str(key_path),
        "sign_public": str(pub_path),
        "kid": keys.key_id(device_key.public_key()).hex(),
        "name": name,
        "imei": imei,
    }
