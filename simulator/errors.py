"""Typed errors of the simulator (docs/style.md §5): one small hierarchy, one clear line each."""

from __future__ import annotations


class SimError(Exception):
    """Base class for everything the simulator raises on purpose."""


class ScenarioError(SimError):
    """A scenario file is missing, not TOML, or does not validate (message names file and field)."""


class UnknownScenario(ScenarioError):
    """Neither a built-in scenario name nor an existing file."""


class RealtimeError(SimError):
    """A real-time run could not start or finish (a process did not come up, a port failed)."""
