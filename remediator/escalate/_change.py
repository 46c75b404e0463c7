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
        self._firing: tuple[tuple[str, ...], frozenset[str]] = ((), frozenset())

    def fires(self, fingerprint: str) -> bool:
        """Whether the incident holds this alert firing: asked for every alert of a batch, of an
        incident that may hold thousands (a set, made again only when the firing alerts change)."""
        firing = self.incident.firing
        if self._firing[0] is not firing:
            self._firing = (firing, frozenset(firing))
        return fingerprint in self._firing[1]

    def event(self, at: datetime, kind: str, text: str) -> None:
        self.events.append(IncidentEvent(at=at, kind=kind, text=text))
