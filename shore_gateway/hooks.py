"""What the case desk does inside the pipeline's transaction (see :mod:`shore_gateway.cases`).

The pipeline and the decrypt worker call these hooks with the new grievances and the crew's
withdrawals and status requests, in the same transaction as the messages that carried them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from shore_gateway.models import Grievance, Vessel


@dataclass(frozen=True, slots=True)
class CaseHooks:
    """What the case desk does inside the pipeline's transaction (see shore_gateway.cases)."""

    on_grievance: Callable[[Session, Grievance, Vessel], object] | None = None
    #: The same for a batch's grievances at once, in order (preferred when set).
    on_grievances: Callable[[Session, list[tuple[Grievance, Vessel]]], object] | None = None
    on_withdraw: Callable[[Session, Vessel, int], None] | None = None
    on_status_request: Callable[[Session, Vessel, int], None] | None = None


def default_hooks() -> CaseHooks:
    """The built-in case desk's hooks, when it is installed."""
    try:
        from shore_gateway.cases import desk, intake
    except ImportError:
        return CaseHooks()
    return CaseHooks(
        on_grievance=getattr(desk, "on_grievance", None),
        on_grievances=getattr(intake, "on_grievances", None),
        on_withdraw=getattr(desk, "on_withdraw", None),
        on_status_request=getattr(desk, "on_status_request", None),
    )
