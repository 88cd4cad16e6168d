"""Gateway settings (pydantic-settings, environment prefix ``FLIP_``).

Every setting can come from the environment (``FLIP_DB_URL``, ``FLIP_HTTP``, …) or be passed
explicitly (the CLI does). Limits are deliberately small: the largest legitimate SBD payload is
340 bytes, and positions/catch feeds are batched text documents.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shore_gateway.db import DEFAULT_URL


def parse_hostport(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → (host, port). Raises ValueError."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


class Settings(BaseSettings):
    """Configuration of one gateway process."""

    model_config = SettingsConfigDict(env_prefix="FLIP_", extra="ignore")

    db_url: str = DEFAULT_URL
    http: str = "127.0.0.1:8080"
    directip: str = "127.0.0.1:10800"
    keys_dir: Path | None = None
    mqtt_url: str | None = None

    # Limits
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    max_frame_bytes: int = Field(default=340, gt=0)  # SBD MO limit (FIELD-FACTS §1)
    max_lines: int = Field(default=100_000, gt=0)

    # RockBLOCK: PEM of the provider's RS256 public key; when set, every webhook needs a good JWT.
    rockblock_jwt_public_key: str | None = None

    @field_validator("http", "directip")
    @classmethod
    def _hostport(cls, value: str) -> str:
        parse_hostport(value)
        return value
