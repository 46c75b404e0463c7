"""Human decisions that stay in force until changed: pauses, dry-run switches, breaker resets.

The override API writes each one here (and its audit row) before answering, and the daemon
rebuilds its in-memory mode from them at start-up, so a pause set before a restart still holds
after it, however the daemon stopped. One row per (kind, key): the latest decision wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

ControlKind = Literal["pause", "dry_run", "breaker_reset"]
GLOBAL = ""
"""The key of a control that applies to every rule (a global pause, the global dry-run)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Control:
    kind: ControlKind
    key: str
    """A rule name, `GLOBAL`, or for a breaker reset `rule:namespace/Kind/name`."""
    value: Mapping[str, Any]
    actor: str
    at: datetime


class ControlStore(Protocol):
    async def set_control(self, kind: ControlKind, key: str, value: Mapping[str, Any], *, actor: str) -> None:
        """Record a human decision, replacing the previous one of the same kind and key."""
        ...

    async def clear_control(self, kind: ControlKind, key: str) -> bool:
        """Lift one (a resume); False if none was recorded."""
        ...

    async def controls(self) -> list[Control]: ...
