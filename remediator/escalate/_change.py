"""An incident being changed: the record with the timeline entries, alerts and timers that go with
it, saved together by the desk in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from remediator.store.incidents import IncidentEvent, IncidentRecord
from remediator.store.scheduling import NewTimer


def with_firing(firing: tuple[str, ...], fingerprint: str) -> tuple[str, ...]:
    """The incident's firing alerts with this one among them (once)."""
    return firing if fingerprint in firing else (*firing, fingerprint)


class Change:
    """An incident being changed, with the timeline entries, alerts and timers that go with it."""

    def __init__(self, incident: IncidentRecord) -> None:
        self.incident = incident
        self.events: list[IncidentEvent] = []
        self.alert_ids: list[Any] = []
        self.timers: list[NewTimer] = []
        self.cancel: list[tuple[str, str]] = []

    def event(self, at: datetime, kind: str, text: str) -> None:
        self.events.append(IncidentEvent(at=at, kind=kind, text=text))
