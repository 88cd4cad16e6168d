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
    #: The same for a batch's grievances at once, by id, in order (preferred when set): the
    #: desk reads what it needs of them with its own lookups.
    on_grievances: Callable[[Session, list[int]], object] | None = None
    on_withdraw: Callable[[Session, Vessel, int], object] | None = None
    on_status_request: Callable[[Session, Vessel, int], object] | None = None


def default_hooks() -> CaseHooks:
    """The built-in case desk's hooks (:mod:`shore_gateway.cases`): a batch's grievances to
    :func:`~shore_gateway.cases.intake.on_grievances`, the rest to :mod:`~shore_gateway.cases.desk`.
    """
    from shore_gateway.cases import desk, intake  # a layer above the pipeline: imported here

    return CaseHooks(
        on_grievance=desk.on_grievance,
        on_grievances=intake.on_grievances,
        on_withdraw=desk.on_withdraw,
        on_status_request=desk.on_status_request,
    )
