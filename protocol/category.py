"""Grievance categories: one byte, high nibble = group (FIELD-FACTS §8).

Sources: ILO forced-labour indicators (2012), ILO C188 Work in Fishing Convention (2007).
Codes 0xF0–0xFF are urgent: they jump every queue and may exceed the airtime budget.
"""

from __future__ import annotations

from enum import IntEnum

from protocol.errors import LocalProtocolError


class Group(IntEnum):
    META = 0x0
    FORCED_LABOUR = 0x1
    C188 = 0x2
    FISHING = 0x3
    URGENT = 0xF


class Category(IntEnum):
    UNSPECIFIED = 0x00
    STATUS_REQUEST = 0x01
    WITHDRAW = 0x02
    ABUSE_OF_VULNERABILITY = 0x10
    DECEPTION = 0x11
    RESTRICTION_OF_MOVEMENT = 0x12
    ISOLATION = 0x13
    PHYSICAL_SEXUAL_VIOLENCE = 0x14
    INTIMIDATION_THREATS = 0x15
    RETENTION_OF_IDENTITY_DOCUMENTS = 0x16
    WITHHOLDING_OF_WAGES = 0x17
    DEBT_BONDAGE = 0x18
    ABUSIVE_CONDITIONS = 0x19
    EXCESSIVE_OVERTIME = 0x1A
    INSUFFICIENT_REST = 0x20
    NO_WORK_AGREEMENT = 0x21
    REPATRIATION_REFUSED = 0x22
    RECRUITMENT_FEES = 0x23
    IRREGULAR_PAY = 0x24
    FOOD_WATER = 0x25
    ACCOMMODATION = 0x26
    MEDICAL_CARE_DENIED = 0x27
    SAFETY = 0x28
    INJURY_COMPENSATION = 0x29
    UNDERAGE_FISHER = 0x2A
    HELD_AT_SEA_BEYOND_TERM = 0x30
    TRANSFERRED_WITHOUT_CONSENT = 0x31
    DENIED_CONTACT = 0x32
    CREW_MISSING_OR_DEAD = 0x33
    CONTRACT_SUBSTITUTION = 0x34
    HARASSMENT_DISCRIMINATION = 0x35
    RETALIATION = 0x36
    PAY_DEDUCTIONS = 0x37
    IUU_WITNESSED = 0x38
    LIFE_THREATENING_VIOLENCE = 0xF0
    MEDICAL_EMERGENCY = 0xF1
    PERSON_OVERBOARD = 0xF2
    HELD_AGAINST_WILL_NOW = 0xF3

    @property
    def group(self) -> Group:
        return group_of(self)

    @property
    def urgent(self) -> bool:
        return is_urgent(self)

    @property
    def label(self) -> str:
        """A plain English label ("withholding of wages")."""
        return self.name.lower().replace("_", " ")


def group_of(code: int) -> Group:
    """The group of a category byte; unknown high nibbles count as :attr:`Group.META`."""
    try:
        return Group(code >> 4)
    except ValueError:
        return Group.META


def is_urgent(code: int) -> bool:
    """Urgency is implied by the category: every 0xF_ code is urgent."""
    return code >> 4 == Group.URGENT


def parse_category(text: str) -> int:
    """``"0x17"``, ``"23"`` or ``"withholding_of_wages"`` → the category byte."""
    cleaned = text.strip()
    try:
        code = int(cleaned, 0)
    except ValueError:
        try:
            return int(Category[cleaned.upper().replace("-", "_").replace(" ", "_")])
        except KeyError:
            raise LocalProtocolError(f"unknown category {text!r}") from None
    if not 0 <= code <= 0xFF:
        raise LocalProtocolError(f"category {text!r} does not fit one byte")
    return code
