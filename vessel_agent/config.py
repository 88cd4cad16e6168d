"""The agent directory: its TOML config, key files and database (``flip vessel init`` makes it).

Layout of an agent directory::

    agent.toml            settings below (human-editable; shore Config messages override the
                          airtime budget and report interval in the database, not here)
    device_sign.pem       the device's Ed25519 signing key (PKCS#8, mode 0600)
    device_sign.pub.pem   its public key — register it ashore (``flip gateway vessel add``)
    shore_sign.pub.pem    shore key that signs acks, status and config (Ed25519)
    shore_seal.pub.pem    shore key grievances are sealed to (X25519)
    crew_intake.pem       the crew app's intake key (X25519, mode 0600): pages seal crew input to it
    outbox.db             the durable outbox (SQLite, WAL) — ciphertext only

A plain dataclass read with :mod:`tomllib` rather than pydantic-settings: the agent runs on a
small ARM box where every import costs start-up time, and these few fields are checked by hand.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vessel_agent.errors import ConfigError

CONFIG_NAME = "agent.toml"
DB_NAME = "outbox.db"
SIGN_KEY = "device_sign.pem"
SIGN_PUB = "device_sign.pub.pem"
SHORE_SIGN_PUB = "shore_sign.pub.pem"
SHORE_SEAL_PUB = "shore_seal.pub.pem"


@dataclass(slots=True, kw_only=True)
class AgentConfig:
    """Settings of one vessel agent. Times in seconds, sizes in bytes."""

    name: str
    imei: str
    serial: str = ""  # modem device or pyserial URL; empty = no modem (queue only)
    gps: str = ""  # NMEA device or pyserial URL; empty = no position reports
    gps_baud: int = 4800
    airtime_bytes_per_day: int = 6000  # billed bytes (credits × 50); shore Config overrides
    report_interval_s: int = 3600  # position reports; shore Config overrides
    heartbeat_interval_s: int = 6 * 3600
    mailbox_check_s: int = 6 * 3600  # empty sessions to fetch MT when nothing else goes
    max_queue_bytes: int = 2_000_000  # encoded bytes of unacknowledged messages
    retention_days: int = 365  # receipts and case status kept this long after the ack
    idle_timeout_s: int = 90  # crew terminal returns to the start page
    default_lang: str = "en"
    modem_timeout_s: float = 5.0
    session_timeout_s: float = 90.0
    tick_s: float = 1.0  # longest sleep of the agent loop (ring polling)
    # Broadband window (optional): the gateway's POST /ingest/frames URL; frames go there while
    # it answers, by satellite otherwise. Empty = satellite only.
    broadband_url: str = ""
    broadband_retry_s: float = 300.0  # after a failed post, satellite only for this long
    broadband_poll_s: float = 600.0  # while up with nothing to send: a heartbeat fetches downlinks
    # RockBLOCK 9704 (IMT, up to 100,000 bytes per message) on its own port; empty = none.
    imt_serial: str = ""
    imt_topic: int = 244  # Cloudloop's RAW topic; must be provisioned for the modem
    # Daily byte budgets of the extra links (0 = no limit); urgent traffic ignores them.
    broadband_bytes_per_day: int = 0
    imt_bytes_per_day: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept on save

    def validate(self) -> None:
        """Raises :class:`ConfigError` for values the agent cannot run with."""
        if not self.name.strip():
            raise ConfigError("name must not be empty")
        if len(self.imei) != 15 or not self.imei.isdigit():
            raise ConfigError(f"imei must be 15 digits, got {self.imei!r}")
        for name in (
            "airtime_bytes_per_day",
            "max_queue_bytes",
            "retention_days",
            "broadband_bytes_per_day",
            "imt_bytes_per_day",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        for name in ("report_interval_s", "heartbeat_interval_s", "mailbox_check_s"):
            if getattr(self, name) < 60:
                raise ConfigError(f"{name} must be at least 60 seconds")
        if self.idle_timeout_s < 5:
            raise ConfigError("idle_timeout_s must be at least 5 seconds")
        if self.tick_s <= 0:
            raise ConfigError("tick_s must be positive")
        if self.broadband_url and not self.broadband_url.startswith(("http://", "https://")):
            raise ConfigError("broadband_url must be an http(s):// URL of /ingest/frames")
        if self.broadband_retry_s <= 0:
            raise ConfigError("broadband_retry_s must be positive")
        if self.broadband_poll_s < 60:
            raise ConfigError("broadband_poll_s must be at least 60 seconds")
        if not 64 <= self.imt_topic <= 65535:
            raise ConfigError("imt_topic must be 64..65535")

    def to_toml(self) -> dict[str, Any]:
        data = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        data.update(self.extra)
        return data


_FIELDS = {f.name: f for f in dataclasses.fields(AgentConfig)}


class AgentDir:
    """Paths inside one agent directory, and loading of its config and keys."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    def file(self, name: str) -> Path:
        return self.path / name

    def load(self) -> AgentConfig:
        """Read and validate ``agent.toml``.

        Raises:
            ConfigError: missing directory or file, bad TOML, wrong types or values.
        """
        try:
            raw = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{self.config_path} not found (create it with `flip vessel init`)"
            ) from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {self.config_path}: {exc}") from exc
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            (known if key in _FIELDS and key != "extra" else extra)[key] = value
        for key in ("name", "imei"):
            if key not in known:
                raise ConfigError(f"{self.config_path}: `{key}` is required")
        for key, value in known.items():
            want = _FIELDS[key].type
            if not _type_ok(str(want), value):
                raise ConfigError(f"{self.config_path}: `{key}` has the wrong type ({value!r})")
        cfg = AgentConfig(**known, extra=extra)
        cfg.validate()
        return cfg

    def save(self, cfg: AgentConfig) -> None:
        """Write ``agent.toml`` atomically (temp file, fsync, rename)."""
        import tomli_w

        cfg.validate()
        write_atomic(self.config_path, tomli_w.dumps(cfg.to_toml()).encode("utf-8"))


def _type_ok(annotation: str, value: Any) -> bool:
    if annotation == "str":
        return isinstance(value, str)
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that a power cut leaves either the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
