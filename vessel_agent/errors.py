"""Typed errors of the vessel agent (docs/style.md §5): one small hierarchy, caught at the edges."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error raised by :mod:`vessel_agent`."""


class ConfigError(AgentError):
    """The agent directory, its TOML config or its key files are missing or invalid."""


class OutboxError(AgentError):
    """The durable outbox refused an operation."""


class OutboxFull(OutboxError):
    """No room for another grievance even after evicting routine reports (docs: storage policy)."""


class OutboxCorrupt(OutboxError):
    """``PRAGMA quick_check`` found damage in the outbox file (a bad disk page, a torn write).

    :func:`vessel_agent.salvage.open_outbox` catches it and salvages the file (keeping a copy);
    it is raised to a caller only when the salvage cannot run — another process keeps the
    damaged outbox open.
    """


class IllegalTransition(OutboxError):
    """A message event with no entry in the outbox's transition table
    (:data:`vessel_agent.outbox.TRANSITIONS`): nothing of the operation is stored."""


class SchemaMismatch(OutboxError):
    """The database was written by an incompatible version of the agent."""


class ReceiptError(AgentError):
    """A receipt code that is malformed or matches no message on this device."""


class LookupLocked(ReceiptError):
    """Too many wrong receipt codes in a row: lookups pause so codes cannot be guessed."""
