"""Which link carries what: the per-step choice between broadband, IMT and SBD (sans-IO).

Rules (issue "IMT and broadband windows"):

* **urgent** traffic (an urgent grievance is due) goes by the **fastest link up now**, whatever
  its budget;
* everything else goes by the **cheapest link up now** whose daily budget is not spent; a link
  slower than the traffic's latency goal is not used for it;
* each link has a **daily byte budget** (UTC day; 0 = no limit) — SBD's is the scheduler's own
  credit budget, kept where it always was.

The agent asks :meth:`LinkPolicy.order` once per step and offers the due frames to the links in
that order; a link takes what it can and leaves the rest due for the next. The choice is logged
and saved in the link status (``flip vessel status`` → ``link.choice``).

Typical figures (defaults, overridable): broadband 2 s and free; IMT about a minute per message
and cheaper per byte than SBD (its tariff is per byte, with no 50-byte minimum); SBD about 30 s
per session at one credit per 50 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY = 86_400


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSpec:
    """How one kind of link compares: seconds to deliver, relative cost per byte, budget."""

    name: str
    latency_s: float
    cost_per_byte: float
    budget_bytes_per_day: int = 0  # 0 = no limit


DEFAULTS = {
    "broadband": LinkSpec(name="broadband", latency_s=2.0, cost_per_byte=0.0),
    "imt": LinkSpec(name="imt", latency_s=60.0, cost_per_byte=0.5),
    "sbd": LinkSpec(name="sbd", latency_s=30.0, cost_per_byte=1.0),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """One step's decision, as logged and shown in the status."""

    order: tuple[str, ...]
    urgent: bool
    skipped: tuple[str, ...]  # up, but budget spent or too slow


@dataclass(slots=True)
class LinkPolicy:
    """Ranks the links that are up; keeps each link's bytes spent today."""

    specs: dict[str, LinkSpec]
    routine_goal_s: float = 6 * 3600.0  # latency a routine message may wait for
    day: int = -1
    spent: dict[str, int] = field(default_factory=dict)

    def _roll(self, now: float) -> None:
        today = int(now // DAY)
        if today != self.day:
            self.day, self.spent = today, {}

    def charge(self, name: str, nbytes: int, now: float) -> None:
        """Count bytes sent on ``name`` today."""
        self._roll(now)
        self.spent[name] = self.spent.get(name, 0) + nbytes

    def remaining(self, name: str, now: float) -> int | None:
        """Bytes left today on ``name`` (``None``: no limit)."""
        self._roll(now)
        budget = self.specs[name].budget_bytes_per_day
        return None if budget <= 0 else max(0, budget - self.spent.get(name, 0))

    def order(self, now: float, *, up: dict[str, bool], urgent: bool) -> Choice:
        """The links to offer this step's frames to, best first."""
        self._roll(now)
        live = [self.specs[n] for n, ok in up.items() if ok and n in self.specs]
        if urgent:
            ranked = sorted(live, key=lambda s: (s.latency_s, s.cost_per_byte))
            return Choice(order=tuple(s.name for s in ranked), urgent=True, skipped=())
        usable, skipped = [], []
        for spec in live:
            left = self.remaining(spec.name, now)
            if (left is not None and left <= 0) or spec.latency_s > self.routine_goal_s:
                skipped.append(spec.name)
            else:
                usable.append(spec)
        ranked = sorted(usable, key=lambda s: (s.cost_per_byte, s.latency_s))
        return Choice(order=tuple(s.name for s in ranked), urgent=False, skipped=tuple(skipped))
