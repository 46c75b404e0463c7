"""What the journal keeps about incidents: each incident's state and timeline, and open escalations.

An incident groups the alerts of one Alertmanager group (or one target): its severity, its state
(open, mitigated, watching, resolved), where its escalation ladder stands, who acknowledged it, and
a timeline of what happened to it. The daemon keeps the live ones in memory and writes every change
here, with the timers it schedules, in one transaction; at start-up it reads them back.

An escalation (a PagerDuty page, with its dedup key) stays open until its alert resolves; then
PagerDuty gets a `resolve` with the same key. The open ones are rows here, not only memory, so a
page opened before a restart is still resolved after it, and one whose alert resolved while the
daemon was down is resolved at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from remediator.model import AlertId, EscalationStep
from remediator.store.scheduling import NewTimer

IncidentState = Literal["open", "mitigated", "watching", "resolved"]
INCIDENT_STATES: tuple[IncidentState, ...] = ("open", "mitigated", "watching", "resolved")
LIVE_STATES: tuple[IncidentState, ...] = ("open", "mitigated", "watching")


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentRecord:
    id: str
    key: str
    """What groups its alerts: the Alertmanager groupKey, else the target."""
    title: str
    severity: str
    """P0-P4 (the worst of its rules and alerts), or "" when none is known."""
    state: IncidentState
    rule: str
    """The first rule that decided on it: its ladder, updates and watch apply."""
    target: str | None
    opened_at: datetime
    updated_at: datetime
    channel: str | None = None
    firing: tuple[str, ...] = ()
    """Fingerprints of its alerts still firing."""
    acted: bool = False
    """An action succeeded for it: a re-fire within the watch means the fix did not hold."""
    acting: int = 0
    """Its executions still running (verifying): alerts that resolve meanwhile were fixed by them, most
    likely, so the incident is watched as if they had succeeded already."""
    actions: tuple[str, ...] = ()
    """What was done, one line each (for updates and the timeline)."""
    escalated_at: datetime | None = None
    escalation_reason: str = ""
    ladder: tuple[EscalationStep, ...] = ()
    step: int = 0
    """The next ladder step to fire."""
    pages: tuple[str, ...] = ()
    """PagerDuty services paged (by routing-key name): resolved with the incident."""
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    watch_until: datetime | None = None
    reopened: int = 0
    updates_every_s: float | None = None
    watch_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentEvent:
    at: datetime
    kind: str
    """opened, escalated, paged, notified, acknowledged, mitigated, resolved, watching, reopened, update..."""
    text: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentChange:
    """One incident's new state and what goes with it, written in one transaction."""

    incident: IncidentRecord
    events: Sequence[IncidentEvent] = ()
    alert_ids: Sequence[AlertId] = ()
    """Alerts that belong to it from now on (for its timeline)."""
    timers: Sequence[NewTimer] = ()
    cancel: Sequence[tuple[str, str]] = ()
    """Timers (kind, key) that no longer apply (the ladder of an acknowledged incident)."""


class IncidentStore(Protocol):
    async def save_incidents(self, changes: Sequence[IncidentChange]) -> None:
        """Upsert each incident, append its events, link its alerts, schedule and cancel its timers:
        all of them in one transaction."""
        ...

    async def live_incidents(self) -> list[IncidentRecord]:
        """Every incident not yet resolved (what the daemon holds in memory), oldest first."""
        ...

    async def incident(self, incident_id: str) -> IncidentRecord | None: ...

    async def incidents(self, *, state: IncidentState | None = None, limit: int = 50) -> list[IncidentRecord]:
        """Newest first."""
        ...

    async def incident_events(self, incident_id: str) -> list[IncidentEvent]:
        """Its timeline, oldest first."""
        ...

    async def incident_alerts(self, incident_id: str) -> list[AlertId]: ...


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


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _at(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def incident_doc(i: IncidentRecord) -> str:
    """The record as the JSON document both back-ends store (beside its indexed columns)."""
    return json.dumps(
        {
            "id": i.id,
            "key": i.key,
            "title": i.title,
            "severity": i.severity,
            "state": i.state,
            "rule": i.rule,
            "target": i.target,
            "opened_at": i.opened_at.isoformat(),
            "updated_at": i.updated_at.isoformat(),
            "channel": i.channel,
            "firing": list(i.firing),
            "acted": i.acted,
            "acting": i.acting,
            "actions": list(i.actions),
            "escalated_at": _iso(i.escalated_at),
            "escalation_reason": i.escalation_reason,
            "ladder": [{"after_s": s.after_s, "page": s.page, "notify": s.notify} for s in i.ladder],
            "step": i.step,
            "pages": list(i.pages),
            "acknowledged_at": _iso(i.acknowledged_at),
            "acknowledged_by": i.acknowledged_by,
            "mitigated_at": _iso(i.mitigated_at),
            "resolved_at": _iso(i.resolved_at),
            "watch_until": _iso(i.watch_until),
            "reopened": i.reopened,
            "updates_every_s": i.updates_every_s,
            "watch_s": i.watch_s,
        }
    )


def incident_from_doc(text: str) -> IncidentRecord:
    d = json.loads(text)
    opened = _at(d["opened_at"])
    updated = _at(d["updated_at"])
    assert opened is not None and updated is not None
    return IncidentRecord(
        id=d["id"],
        key=d["key"],
        title=d["title"],
        severity=d["severity"],
        state=d["state"],
        rule=d["rule"],
        target=d["target"],
        opened_at=opened,
        updated_at=updated,
        channel=d["channel"],
        firing=tuple(d["firing"]),
        acted=bool(d["acted"]),
        acting=int(d.get("acting", 0)),
        actions=tuple(d["actions"]),
        escalated_at=_at(d["escalated_at"]),
        escalation_reason=d["escalation_reason"],
        ladder=tuple(EscalationStep(**s) for s in d["ladder"]),
        step=int(d["step"]),
        pages=tuple(d["pages"]),
        acknowledged_at=_at(d["acknowledged_at"]),
        acknowledged_by=d["acknowledged_by"],
        mitigated_at=_at(d["mitigated_at"]),
        resolved_at=_at(d["resolved_at"]),
        watch_until=_at(d["watch_until"]),
        reopened=int(d["reopened"]),
        updates_every_s=d["updates_every_s"],
        watch_s=d["watch_s"],
    )
