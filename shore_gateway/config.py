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
    # Decrypt crew messages in this process (needs the sealing keys in keys_dir). False for the
    # split deployment: this host verifies, stores and acks; `flip gateway decrypt-worker` opens.
    decrypt: bool = True

    # DirectIP MO receiver
    directip_max_connections: int = Field(default=256, gt=0)
    directip_read_timeout_s: float = Field(default=10.0, gt=0)
    directip_enabled: bool = True

    # MQTT: shared-subscription group, topic prefix, and a client id that must stay the same
    # across restarts of one gateway instance (the broker redelivers unacked messages to it).
    mqtt_prefix: str = "flip/v1"
    mqtt_group: str = "flip-gateway"
    mqtt_client_id: str | None = None
    # A week: every gateway may be down that long and find its share of the stream waiting
    # (a session that expires takes its queued messages with it).
    mqtt_session_expiry_s: int = Field(default=7 * 86_400, ge=0)
    # Unacknowledged messages the broker may send at once (MQTT 5 receive maximum).
    mqtt_receive_maximum: int = Field(default=128, ge=1, le=65_535)

    # Downlink: default DirectIP MT endpoint (HOST:PORT) for vessels without their own mt_url.
    mt: str | None = None
    downlink_interval_s: float = Field(default=1.0, gt=0)
    downlink_enabled: bool = True

    # Silence detection (shore_gateway/silence.py): a vessel not heard from for
    # silence_factor × expected_heartbeat_s gets a "silence" alert; checked every interval.
    expected_heartbeat_s: int = Field(default=6 * 3600, gt=0)
    silence_factor: float = Field(default=3.0, gt=0)
    silence_check_interval_s: float = Field(default=60.0, gt=0)
    silence_check_enabled: bool = True

    # Limits
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    max_frame_bytes: int = Field(default=340, gt=0)  # SBD MO limit (FIELD-FACTS §1)
    max_lines: int = Field(default=100_000, gt=0)

    # RockBLOCK: PEM of the provider's RS256 public key; when set, every webhook needs a good JWT.
    rockblock_jwt_public_key: str | None = None

    # Cloudloop (RockBLOCK 9704 / IMT): no request signature exists, so the webhook may demand a
    # secret URL token (`?token=`) and/or come from listed networks (comma-separated CIDRs).
    cloudloop_token: str | None = None
    cloudloop_allow: str | None = None
    # Cloudloop Data API for MT (IMT downlink): base URL (…/Data/ is appended) and account token.
    cloudloop_api: str | None = None
    cloudloop_api_token: str | None = None

    @property
    def silence_after_s(self) -> float:
        """Seconds without any frame after which a vessel's terminal counts as silent."""
        return self.silence_factor * self.expected_heartbeat_s

    @field_validator("http", "directip")
    @classmethod
    def _hostport(cls, value: str) -> str:
        parse_hostport(value)
        return value

    @field_validator("mt")
    @classmethod
    def _mt(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hostport(value.removeprefix("directip://"))
        return value
