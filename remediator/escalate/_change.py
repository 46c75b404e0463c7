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
    """An incident being changed, with the timeline entries, alerts and timers that go with it.

    The alerts a batch fires on the incident, and its severity, are kept aside (`fire`) and folded
    into the record when it is read (`incident`): a storm's batch fires thousands of alerts on one
    incident, and a record copied for each (`dataclasses.replace`) was most of the desk's cost."""

    def __init__(self, incident: IncidentRecord) -> None:
        self._incident = incident
        self._added: list[str] = []
        """Fingerprints fired since `_incident` was made, in order, not in its `firing` yet."""
        self._severity = incident.severity
        self.events: list[IncidentEvent] = []
        self.alert_ids: list[Any] = []
        self.timers: list[NewTimer] = []
        self.cancel: list[tuple[str, str]] = []
        self._firing_of: tuple[str, ...] | None = None
        self._firing: set[str] = set()

    @property
    def incident(self) -> IncidentRecord:
        """The record with every alert fired so far."""
        i = self._incident
        if self._added or self._severity != i.severity:
            in_step = self._firing_of is i.firing
            firing = (*i.firing, *self._added) if self._added else i.firing
            self._incident = i = replace(i, firing=firing, severity=self._severity)
            self._added = []
            if in_step:
                self._firing_of = firing  # the set already holds the added ones
        return i

    @incident.setter
    def incident(self, incident: IncidentRecord) -> None:
        if self._added:
            self._firing_of = None  # the set holds alerts this record does not
        self._incident = incident
        self._added = []
        self._severity = incident.severity

    @property
    def id(self) -> str:
        return self._incident.id

    @property
    def state(self) -> str:
        return self._incident.state

    @property
    def severity(self) -> str:
        """The incident's severity, with the alerts fired so far."""
        return self._severity

    def _firing_set(self) -> set[str]:
        """The incident's firing alerts (with those added) as a set, asked for every alert of a batch,
        of an incident that may hold thousands: kept up to date here, made again only when the
        record was replaced elsewhere (an alert resolved)."""
        firing = self._incident.firing
        if self._firing_of is not firing:
            self._firing, self._firing_of = {*firing, *self._added}, firing
        return self._firing

    def fire(self, fingerprint: str, severity: str) -> None:
        """The incident holds this alert firing (once), at this severity."""
        current = self._firing_set()
        if fingerprint not in current:
            current.add(fingerprint)
            self._added.append(fingerprint)
        self._severity = severity

    def event(self, at: datetime, kind: str, text: str) -> None:
        self.events.append(IncidentEvent(at=at, kind=kind, text=text))
