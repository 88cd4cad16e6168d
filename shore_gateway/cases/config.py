"""Case desk and connector settings (environment prefix ``FLIP_CASES_``; see docs/cases.md)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CONNECTORS = ("mqtt", "primero")


class CaseSettings(BaseSettings):
    """Which connectors get outbox rows, and how to reach them."""

    model_config = SettingsConfigDict(env_prefix="FLIP_CASES_", extra="ignore")

    #: Comma-separated connector names that receive case changes ("" = built-in desk only).
    connectors: str = ""
    mqtt_url: str | None = None  # default: FLIP_MQTT_URL
    mqtt_prefix: str = "flip/v1"
    mqtt_share_text: bool = False  # grievance text in MQTT messages (off: brokers fan out)
    primero_url: str | None = None
    primero_user: str | None = None
    primero_password: str | None = None
    primero_share_text: bool = True  # Primero is a case system with its own access control
    primero_webhook_secret: str | None = None
    dispatch_interval_s: float = Field(default=2.0, gt=0)
    max_backoff_s: float = Field(default=300.0, gt=0)
    #: A grievance joins an open case of the same vessel and category opened within this window.
    join_window_days: int = Field(default=30, ge=0)

    def enabled(self) -> tuple[str, ...]:
        names = tuple(n.strip() for n in self.connectors.split(",") if n.strip())
        for name in names:
            if name not in CONNECTORS:
                raise ValueError(f"unknown case connector {name!r} (known: {CONNECTORS})")
        return names


@lru_cache(maxsize=1)
def default_settings() -> CaseSettings:
    """Settings from the environment, read once per process."""
    return CaseSettings()
