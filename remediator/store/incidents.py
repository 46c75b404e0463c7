"""What the journal keeps about incidents handed to humans: the escalations still open.

An escalation (a PagerDuty page, with its dedup key) stays open until its alert resolves; then
PagerDuty gets a `resolve` with the same key. The open ones are rows here, not only memory, so a
page opened before a restart is still resolved after it, and one whose alert resolved while the
daemon was down is resolved at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenEscalation:
    dedup_key: str
    rule: str
    target: str
    fingerprint: str
    """The alert whose resolution closes it."""
    pagerduty: bool
    """A PagerDuty incident was triggered: it needs a `resolve`."""
    opened_at: datetime
    resolved: bool = False
    """Its alert resolved after it opened (filled in by `open_escalations`): resolve it now."""


class EscalationStore(Protocol):
    async def open_escalation(self, escalation: OpenEscalation) -> bool:
        """Record an open escalation; False if one with this dedup key is already open."""
        ...

    async def close_escalation(self, dedup_key: str) -> bool: ...

    async def open_escalations(self) -> list[OpenEscalation]:
        """Every open one, each saying whether its alert has resolved since it opened."""
        ...
