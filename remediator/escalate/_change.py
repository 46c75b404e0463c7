"""An incident being changed: the record with the timeline entries, alerts and timers that go with
it, saved together by the desk in one transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from remediator.store.incidents import IncidentEvent, IncidentRecord
from remediator.store.scheduling import NewTimer


class Change:
    """An incident being changed, with the timeline entries, alerts and timers that go with it."""

    def __init__(self, incident: IncidentRecord) -> None:
        self.incident = incident
        self.events: list[IncidentEvent] = []
        self.alert_ids: list[Any] = []
        self.timers: list[NewTimer] = []
        self.cancel: list[tuple[str, str]] = []
        self._firing_of: tuple[str, ...] | None = None
        self._firing: set[str] = set()

    def _firing_set(self) -> set[str]:
        """The incident's firing alerts as a set, asked for every alert of a batch, of an incident that
        may hold thousands: kept up to date here, made again only when the firing alerts were changed
        elsewhere (an alert resolved)."""
        firing = self.incident.firing
        if self._firing_of is not firing:
            self._firing, self._firing_of = set(firing), firing
        return self._firing

    def fire(self, fingerprint: str, severity: str) -> None:
        """The incident holds this alert firing (once), at this severity."""
        current = self._firing_set()
        incident = self.incident
        if fingerprint in current and severity == incident.severity:
            return
        firing = incident.firing
        if fingerprint not in current:
            firing = (*firing, fingerprint)
            current.add(fingerprint)
        self.incident = replace(incident, firing=firing, severity=severity)
        self._firing_of = firing

    def event(self, at: datetime, kind: str, text: str) -> None:
        self.events.append(IncidentEvent(at=at, kind=kind, text=text))
