"""Case desk and connector settings (environment prefix ``FLIP_CASES_``; see docs/cases.md).

Which connectors run: ``FLIP_CASES_CONNECTORS`` when it is set (``""`` = the built-in desk
only), otherwise ``mqtt`` when the gateway has an MQTT broker (``serve --mqtt URL``, as
CONTRACTS.md says) and none without one.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CONNECTORS = ("mqtt", "primero")


class CaseSettings(BaseSettings):
    """Which connectors get outbox rows, and how to reach them."""

    model_config = SettingsConfigDict(env_prefix="FLIP_CASES_", extra="ignore")

    #: Comma-separated connector names that receive case changes ("" = built-in desk only;
    #: None = unset: see :func:`for_gateway`).
    connectors: str | None = None
    mqtt_url: str | None = None  # default: the gateway's --mqtt
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
    #: Response clocks × this factor (``workflow.RESPONSE_CLOCK``). 1 in use; the demo runs
    #: them 20× fast (0.05) so a clock can be seen running out within minutes.
    clock_scale: float = Field(default=1.0, gt=0, le=1)

    def enabled(self) -> tuple[str, ...]:
        names = tuple(n.strip() for n in (self.connectors or "").split(",") if n.strip())
        for name in names:
            if name not in CONNECTORS:
                raise ValueError(f"unknown case connector {name!r} (known: {CONNECTORS})")
        return names


#: The settings :func:`for_gateway` made this process's default (a gateway process has one).
_gateway: list[CaseSettings] = []


@lru_cache(maxsize=1)
def _from_environment() -> CaseSettings:
    return CaseSettings()


def default_settings() -> CaseSettings:
    """This process's settings: :func:`for_gateway`'s when a gateway set them, else the
    environment's (read once per process)."""
    return _gateway[-1] if _gateway else _from_environment()


def for_gateway(mqtt_url: str | None) -> CaseSettings:
    """The settings of the gateway process whose broker is ``mqtt_url``, made this process's
    default: an MQTT broker turns the ``mqtt`` connector on unless ``FLIP_CASES_CONNECTORS``
    is set (which can narrow it, to ``""`` or ``primero``)."""
    settings = CaseSettings()
    if settings.connectors is None and mqtt_url:
        settings = settings.model_copy(update={"connectors": "mqtt"})
    if mqtt_url and settings.mqtt_url is None:
        settings = settings.model_copy(update={"mqtt_url": mqtt_url})
    _gateway[:] = [settings]
    return settings
