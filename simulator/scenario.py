"""Scenario files: TOML, validated with pydantic; a bad file gives one clear line per problem.

A scenario declares link profiles (``[links.NAME]``), vessel groups (``[[fleet]]``), how crew
raise grievances (``[grievances]``), what the shore's case desk sends back (``[case_desk]``) and
fleet-level events (``[[events]]``: storms, provider outages, vessels going dark). Every number
has a default calibrated to FIELD-FACTS §4, so a scenario only states what differs. Format and
an example: docs/simulator.md.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from protocol.category import parse_category
from protocol.errors import LocalProtocolError
from protocol.lang import LANGS
from simulator.errors import ScenarioError, UnknownScenario

BUILTIN = ("calm", "monsoon", "dark-vessel", "provider-outage", "fleet-1000")

Pos = Annotated[float, Field(ge=0)]
Prob = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeaState(_Model):
    """Gilbert–Elliott parameters for one sea state (continuous time, exponential sojourns).

    Long-run session loss = π_g·loss_good + π_b·loss_bad, with π_b = bad / (good + bad).
    Defaults give ≈ 3.9 % (normal seas, FIELD-FACTS §4: ≈ 4 %).
    """

    mean_good_h: Annotated[float, Field(gt=0)] = 19.0
    mean_bad_h: Annotated[float, Field(gt=0)] = 1.0
    loss_good: Prob = 0.015
    loss_bad: Prob = 0.5

    @property
    def expected_loss(self) -> float:
        pb = self.mean_bad_h / (self.mean_good_h + self.mean_bad_h)
        return (1 - pb) * self.loss_good + pb * self.loss_bad


STORM = SeaState(mean_good_h=4.0, mean_bad_h=1.0, loss_good=0.05, loss_bad=0.5)  # ≈ 14 %


class Outage(_Model):
    """Long outages drawn per vessel: Poisson arrivals, exponential durations."""

    kind: Literal["antenna", "power", "unplugged"]
    per_month: Pos = 0.1
    mean_h: Annotated[float, Field(gt=0)] = 12.0


LinkKind = Literal["iridium-sbd", "iridium-imt", "inmarsat-c", "broadband-window"]


class LinkProfile(_Model):
    """One link kind with its parameters. Defaults are Iridium SBD (FIELD-FACTS §1, §4)."""

    kind: LinkKind = "iridium-sbd"
    mo_max: Annotated[int, Field(gt=0, le=100_000)] = 340  # IMT: 100,000 (wire format §1.1)
    mt_max: Annotated[int, Field(gt=0, le=270)] = 270
    setup_s: Pos = 5.0  # session latency with no payload
    bytes_per_s: Annotated[float, Field(gt=0)] = 340 / 15.0  # 340 B adds 15 s: 5–20 s per session
    jitter_s: Pos = 2.0  # mean of an exponential extra delay
    forward_s: Pos = 1.0  # provider → shore (DirectIP push; store-and-forward is minutes)
    billing_unit: Annotated[int, Field(gt=0)] = 50
    min_units: Annotated[int, Field(ge=0)] = 1
    ring_delay_s: Pos = 20.0
    ring_reliability: Prob = 0.9
    normal: SeaState = SeaState()
    storm: SeaState = STORM
    failure_codes: dict[str, Pos] = Field(
        default_factory=lambda: {
            "32": 30.0,
            "18": 20.0,
            "13": 15.0,
            "10": 10.0,
            "17": 10.0,
            "35": 5.0,
            "19": 5.0,
            "11": 3.0,
            "36": 2.0,
        }
    )
    ghost_share: Prob = 0.1  # of failures with 13/18/19: MO reached the gateway anyway
    outages: list[Outage] = Field(
        default_factory=lambda: [
            Outage(kind="antenna", per_month=0.05, mean_h=24.0),
            Outage(kind="power", per_month=0.1, mean_h=6.0),
        ]
    )
    window_hours: tuple[float, float] | None = None  # broadband: daily window (UTC hours)
    in_port_up: bool = False  # broadband: up all the time while in port

    @field_validator("failure_codes")
    @classmethod
    def _codes(cls, v: dict[str, float]) -> dict[str, float]:
        for code in v:
            if not code.isdigit() or not 5 <= int(code) <= 127:
                raise ValueError(f"failure code {code!r} is not an SBDIX failure status (5..127)")
        if not v or sum(v.values()) <= 0:
            raise ValueError("needs at least one failure code with a positive weight")
        return v


class Area(_Model):
    lat: tuple[float, float] = (5.0, 15.0)
    lon: tuple[float, float] = (85.0, 95.0)

    @model_validator(mode="after")
    def _ordered(self) -> Area:
        lat, lon = self.lat, self.lon
        if not (-90 <= lat[0] < lat[1] <= 90 and -180 <= lon[0] < lon[1] <= 180):
            raise ValueError("area needs lat = [south, north], lon = [west, east] in degrees")
        return self


class VesselGroup(_Model):
    name: str = "fleet"
    share: Annotated[float, Field(gt=0)] = 1.0
    link: str = "iridium"
    crew: Annotated[int, Field(gt=0, le=200)] = 20
    trip_days: Annotated[float, Field(gt=0)] = 60.0
    port_days: Pos = 4.0
    area: Area = Area()
    position_interval_h: Annotated[float, Field(gt=0)] = 4.0
    heartbeat_interval_h: Annotated[float, Field(gt=0)] = 24.0
    mailbox_interval_h: Annotated[float, Field(gt=0)] = 6.0
    airtime_bytes_per_day: Annotated[int, Field(gt=0)] = 20_000
    catch_per_day: Pos = 2.0


class Grievances(_Model):
    per_crew_per_month: Pos = 0.3
    burst_per_month: Pos = 0.5  # per vessel: an incident after which several crew report
    burst_size: Pos = 4.0  # mean extra grievances in a burst (Poisson)
    burst_hours: Annotated[float, Field(gt=0)] = 6.0
    categories: dict[str, Pos] = Field(
        default_factory=lambda: {
            "0x17": 4,
            "0x19": 3,
            "0x1A": 3,
            "0x20": 2,
            "0x25": 2,
            "0x16": 1,
            "0x18": 1,
            "0x14": 1,
            "0x30": 1,
            "0xF1": 0.3,
            "0xF0": 0.2,
        }
    )
    languages: dict[str, Pos] = Field(
        default_factory=lambda: {
            "my": 3.0,
            "th": 2.0,
            "km": 2.0,
            "id": 2.0,
            "vi": 1.0,
            "tl": 1.0,
            "en": 1.0,
        }
    )
    length_chars: dict[str, Pos] = Field(
        default_factory=lambda: {"40": 4.0, "120": 4.0, "300": 2.0}
    )

    @field_validator("categories")
    @classmethod
    def _cats(cls, v: dict[str, float]) -> dict[str, float]:
        for c in v:
            try:
                parse_category(c)
            except LocalProtocolError as exc:
                raise ValueError(str(exc)) from None
        return _weights(v)

    @field_validator("languages")
    @classmethod
    def _langs(cls, v: dict[str, float]) -> dict[str, float]:
        for tag in v:
            if tag not in LANGS:
                raise ValueError(f"unknown language {tag!r}; expected one of {', '.join(LANGS)}")
        return _weights(v)

    @field_validator("length_chars")
    @classmethod
    def _lengths(cls, v: dict[str, float]) -> dict[str, float]:
        for n in v:
            if not n.isdigit() or not 1 <= int(n) <= 2000:
                raise ValueError(f"text length {n!r} must be a whole number of characters 1..2000")
        return _weights(v)


def _weights(v: dict[str, float]) -> dict[str, float]:
    if not v or sum(v.values()) <= 0:
        raise ValueError("needs at least one entry with a positive weight")
    return v


CaseStateName = Literal[
    "ACKNOWLEDGED", "INVESTIGATING", "REMEDIATION_IN_PROGRESS", "REMEDIATED", "CLOSED", "REFERRED"
]


class CaseUpdate(_Model):
    state: CaseStateName
    after_h: Pos


class CaseDeskConfig(_Model):
    """The case desk seam: a case opens on delivery; these updates follow (status to crew)."""

    updates: list[CaseUpdate] = Field(
        default_factory=lambda: [CaseUpdate(state="ACKNOWLEDGED", after_h=24.0)]
    )


class Storm(_Model):
    kind: Literal["storm"]
    start_day: Pos
    duration_days: Annotated[float, Field(gt=0)]
    start: tuple[float, float]  # (lat, lon) of the centre at start
    end: tuple[float, float]  # (lat, lon) of the centre at the end
    radius_km: Annotated[float, Field(gt=0)] = 400.0


class ProviderOutage(_Model):
    kind: Literal["provider-outage"]
    start_day: Pos
    duration_h: Annotated[float, Field(gt=0)]
    link_kind: LinkKind = "iridium-sbd"


class DarkVessel(_Model):
    kind: Literal["dark-vessel"]
    start_day: Pos
    duration_days: Annotated[float, Field(gt=0)]
    vessels: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0])
    share: Prob = 0.0  # or a random share of the fleet


FleetEvent = Annotated[Storm | ProviderOutage | DarkVessel, Field(discriminator="kind")]


class Scenario(_Model):
    name: str
    description: str = ""
    days: Annotated[float, Field(gt=0)] = 30.0
    vessels: Annotated[int, Field(gt=0)] = 20
    drain_days: Pos = 3.0  # after ``days``: no new traffic, in-flight grievances may finish
    links: dict[str, LinkProfile] = Field(default_factory=dict)
    fleet: list[VesselGroup] = Field(default_factory=lambda: [VesselGroup()])
    grievances: Grievances = Grievances()
    case_desk: CaseDeskConfig = CaseDeskConfig()
    events: list[FleetEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _links_known(self) -> Scenario:
        names = set(self.all_links())
        for i, g in enumerate(self.fleet):
            if g.link not in names:
                raise ValueError(
                    f"fleet[{i}] uses link {g.link!r}; defined links: {', '.join(sorted(names))}"
                )
        if not self.fleet:
            raise ValueError("fleet needs at least one vessel group")
        return self

    def all_links(self) -> dict[str, LinkProfile]:
        """Built-in link profiles, overridden and extended by the scenario's ``[links]``."""
        return {**default_links(), **self.links}


def default_links() -> dict[str, LinkProfile]:
    return {
        "iridium": LinkProfile(),
        "inmarsat-c": LinkProfile(
            kind="inmarsat-c",
            setup_s=30.0,
            bytes_per_s=600 / 8,  # 600 bps
            jitter_s=10.0,
            forward_s=120.0,  # store-and-forward at the land earth station
            billing_unit=32,  # billed in 256-bit blocks
            ring_delay_s=60.0,
            ring_reliability=0.97,
            normal=SeaState(mean_good_h=40.0, mean_bad_h=1.0, loss_good=0.01, loss_bad=0.5),
            storm=SeaState(mean_good_h=8.0, mean_bad_h=1.0, loss_good=0.04, loss_bad=0.6),
            failure_codes={"10": 30, "17": 30, "13": 20, "32": 20},
        ),
        "imt": LinkProfile(  # RockBLOCK 9704 (FIELD-FACTS §10): one frame of ≤ 100 kB a message
            kind="iridium-imt",
            mo_max=100_000,
            setup_s=10.0,
            bytes_per_s=100_000 / 120.0,  # a full 100 kB message takes about two minutes
            jitter_s=5.0,
            billing_unit=1,  # billed by the byte, successful sends only; tariff not in FIELD-FACTS
            min_units=0,
        ),
        "broadband": LinkProfile(
            kind="broadband-window",
            setup_s=1.0,
            bytes_per_s=12_500.0,
            jitter_s=0.5,
            forward_s=0.2,
            billing_unit=1_000_000,  # flat rate: one unit per session at most
            min_units=0,
            ring_delay_s=5.0,
            ring_reliability=1.0,
            normal=SeaState(mean_good_h=50.0, mean_bad_h=0.2, loss_good=0.005, loss_bad=0.5),
            storm=SeaState(mean_good_h=10.0, mean_bad_h=0.5, loss_good=0.02, loss_bad=0.7),
            failure_codes={"32": 60, "17": 40},
            ghost_share=0.0,
            outages=[Outage(kind="power", per_month=0.1, mean_h=6.0)],
            window_hours=(18.0, 20.0),
            in_port_up=True,
        ),
    }


def _format(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def parse(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario TOML text.

    Raises:
        ScenarioError: not TOML, or a field is missing, unknown or out of range (all named).
    """
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    if "name" not in data:
        data["name"] = Path(source).stem
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_format(exc)}") from None


def load(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path.

    Raises:
        UnknownScenario: neither a built-in name nor a readable file.
        ScenarioError: the file does not validate.
    """
    if name_or_path in BUILTIN:
        text = (
            resources.files("simulator.scenarios")
            .joinpath(f"{name_or_path}.toml")
            .read_text(encoding="utf-8")
        )
        return parse(text, f"{name_or_path}.toml")
    path = Path(name_or_path)
    if not path.is_file():
        raise UnknownScenario(
            f"no scenario {name_or_path!r}: not a built-in ({', '.join(BUILTIN)}) and no such file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    return parse(text, path.name)


def builtins() -> list[dict[str, Any]]:
    """Name, description, vessels and days of every built-in scenario."""
    out = []
    for name in BUILTIN:
        s = load(name)
        out.append(
            {
                "name": name,
                "description": s.description,
                "vessels": s.vessels,
                "days": s.days,
                "events": [e.kind for e in s.events],
            }
        )
    return out
