"""Human decisions that stay in force until changed: pauses, dry-run switches, breaker resets.

The override API writes each one here (and its audit row) before answering, and the daemon
rebuilds its in-memory mode from them at start-up, so a pause set before a restart still holds
after it, however the daemon stopped. One row per (kind, key): the latest decision wins.

Also here: the webhook ids PagerDuty deliveries carry, journaled with their payload in the same
commit, so a retry after a restart is still recognised as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from remediator.model import PayloadId, Source

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

    async def accept_once(
        self, source: Source, body: bytes, *, delivery_id: str, ttl_s: float
    ) -> PayloadId | None:
        """`accept`, unless a payload with this delivery id was accepted in the last `ttl_s`: then
        None and nothing written. The id is written in the payload's own commit."""
        ...
