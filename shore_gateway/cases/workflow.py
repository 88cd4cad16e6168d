"""The case workflow: states, the one transition table, response clocks, category groups.

Pure data and functions (no database): the desk, the REST API, the dashboard and the connectors
all read the workflow from here, so there is exactly one place that says what may follow what.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from protocol.category import Category, Group, group_of, is_urgent
from protocol.messages import CaseState
from shore_gateway.errors import RemoteError


class CaseError(RemoteError):
    """A case operation that cannot be done (base of the desk's errors)."""


class UnknownCase(CaseError):
    """No case (or grievance) by that reference — or none the caller may see."""


class BadTransition(CaseError):
    """The workflow does not allow that move from the case's current state."""


class BadRequest(CaseError):
    """A malformed argument (unknown action kind, note code out of range…)."""


class Status(StrEnum):
    """Case states (the desk's words; Primero's workflow maps onto them in ``primero.py``)."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    REMEDIATION_IN_PROGRESS = "remediation_in_progress"
    REMEDIATED = "remediated"
    CLOSED = "closed"
    REFERRED = "referred"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


S = Status
#: The workflow, in one table: state → states it may move to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED, S.REFERRED, S.WITHDRAWN}),
    S.ACKNOWLEDGED: frozenset({S.INVESTIGATING, S.REFERRED, S.WITHDRAWN}),
    S.INVESTIGATING: frozenset({S.REMEDIATION_IN_PROGRESS, S.REFERRED, S.WITHDRAWN, S.CLOSED}),
    S.REMEDIATION_IN_PROGRESS: frozenset({S.REMEDIATED, S.REFERRED, S.WITHDRAWN}),
    S.REMEDIATED: frozenset({S.CLOSED, S.REMEDIATION_IN_PROGRESS}),
    S.REFERRED: frozenset({S.INVESTIGATING, S.CLOSED}),
    S.WITHDRAWN: frozenset({S.CLOSED, S.INVESTIGATING}),
    S.CLOSED: frozenset({S.INVESTIGATING}),  # reopen
}

#: States in which a case takes no new grievances (a new one opens a new case).
TERMINAL: frozenset[Status] = frozenset({S.CLOSED, S.WITHDRAWN})

#: What the crew member's receipt on board shows for each state (wire-format.md, type 17).
CREW_STATE: dict[Status, CaseState] = {
    S.NEW: CaseState.OPENED,
    S.ACKNOWLEDGED: CaseState.ACKNOWLEDGED,
    S.INVESTIGATING: CaseState.INVESTIGATING,
    S.REMEDIATION_IN_PROGRESS: CaseState.REMEDIATION_IN_PROGRESS,
    S.REMEDIATED: CaseState.REMEDIATED,
    S.CLOSED: CaseState.CLOSED,
    S.REFERRED: CaseState.REFERRED,
    S.WITHDRAWN: CaseState.WITHDRAWN,
}

#: Note codes the crew terminal renders in the crew member's language (vessel_agent/locale).
NOTES: dict[int, str] = {
    0: "(no note)",
    1: "We have your report.",
    2: "A caseworker will meet you at the next port.",
    3: "Your employer has been contacted.",
    4: "Your wages are being paid back.",
    5: "Keep your receipt code safe.",
    6: "Help is on the way.",
    7: "An inspection is planned at the next port.",
    8: "We need more details. You may send another report.",
}

#: Remediation actions staff can attach to a case.
ACTION_KINDS: dict[str, str] = {
    "pay_arrears": "pay arrears",
    "return_passport": "return passport / identity documents",
    "repatriate": "repatriate",
    "medical_care": "medical care",
    "rest_hours": "restore rest hours",
    "written_agreement": "written work agreement",
    "refund_fees": "refund recruitment fees",
    "port_inspection": "port inspection",
    "contact_family": "contact with family",
    "other": "other",
}

#: Response clocks: how long until a case must be acknowledged, by category group.
RESPONSE_CLOCK: dict[Group, dt.timedelta] = {
    Group.URGENT: dt.timedelta(minutes=30),
    Group.FORCED_LABOUR: dt.timedelta(days=2),
    Group.C188: dt.timedelta(days=5),
    Group.FISHING: dt.timedelta(days=3),
    Group.META: dt.timedelta(days=7),
}

#: Owner-facing names of category groups (owners see the group, never the exact category).
GROUP_LABELS: dict[Group, str] = {
    Group.META: "general",
    Group.FORCED_LABOUR: "forced labour indicators",
    Group.C188: "work in fishing (ILO C188)",
    Group.FISHING: "fishing-specific",
    Group.URGENT: "urgent",
}


def check_transition(current: Status, target: Status) -> None:
    """Raise :class:`BadTransition` unless the table allows ``current`` → ``target``."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        raise BadTransition(
            f"a {current.label} case cannot become {target.label} (allowed: {allowed})"
        )


def parse_status(value: str) -> Status:
    """``"remediation in progress"`` / ``"remediation_in_progress"`` → the state."""
    try:
        return Status(value.strip().lower().replace(" ", "_").replace("-", "_"))
    except ValueError:
        raise BadRequest(f"unknown case status {value!r}") from None


def due_at(category: int, opened: dt.datetime, scale: float = 1.0) -> dt.datetime:
    """When the case must be acknowledged by (urgent categories: minutes, not days);
    ``scale`` shortens every clock alike (a demo setting, ``FLIP_CASES_CLOCK_SCALE``)."""
    return opened + RESPONSE_CLOCK[group_of(category)] * scale


def category_label(code: int) -> str:
    try:
        return Category(code).label
    except ValueError:
        return f"category 0x{code:02X}"


def group_label(code: int) -> str:
    return GROUP_LABELS[group_of(code)]


def urgent(code: int) -> bool:
    return is_urgent(code)


def format_ref(case_id: int) -> str:
    """``C-000042``: short enough for the 16-character case ref on the wire."""
    return f"C-{case_id:06d}"


def path_to(current: str | Status, target: Status) -> list[Status]:
    """The shortest walk through the transition table from ``current`` to ``target``.

    Outside systems (Primero, an MQTT status feed) report where a case *is*, not each step;
    this finds the steps so the desk still records and announces every one. ``[]`` when the
    case is already there.

    Raises:
        BadTransition: the table has no way there.
    """
    start = Status(current)
    if start == target:
        return []
    side = frozenset({Status.REFERRED, Status.WITHDRAWN}) - {start, target}
    # Prefer the main line (no detour through referred/withdrawn), then anything.
    for avoid in (side, frozenset[Status]()):
        path = _bfs(start, target, avoid)
        if path:
            return path
    raise BadTransition(f"no way from {start.label} to {target.label}")


def _bfs(start: Status, target: Status, avoid: frozenset[Status]) -> list[Status]:
    previous: dict[Status, Status] = {}
    frontier = [start]
    while frontier:
        nxt: list[Status] = []
        for state in frontier:
            for step in sorted(TRANSITIONS[state], key=list(Status).index):
                if step in previous or step == start or step in avoid:
                    continue
                previous[step] = state
                if step == target:
                    path = [step]
                    while previous[path[-1]] != start:
                        path.append(previous[path[-1]])
                    return path[::-1]
                nxt.append(step)
        frontier = nxt
    return []
