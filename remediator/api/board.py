"""The override API's incident board, deferred decisions and timers: incidents as records over time
(state, ladder, acknowledgement, watch) with the humans' acknowledge and resolve, and the journaled
work waiting on a time (deferred decisions, due timers). Handlers as in control.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from remediator.api import models as m
from remediator.override import NotFound
from remediator.store.incidents import IncidentRecord

if TYPE_CHECKING:
    from remediator.api.routes import Call


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def board_incident(i: IncidentRecord) -> dict[str, Any]:
    ladder = []
    for n, step in enumerate(i.ladder):
        due = i.escalated_at + timedelta(seconds=step.after_s) if i.escalated_at else None
        ladder.append({"after_s": step.after_s, "to": step.to, "due_at": _iso(due), "fired": n < i.step})
    return {
        "id": i.id,
        "title": i.title,
        "severity": i.severity,
        "state": i.state,
        "rule": i.rule,
        "target": i.target,
        "key": i.key,
        "opened_at": i.opened_at.isoformat(),
        "updated_at": i.updated_at.isoformat(),
        "channel": i.channel,
        "firing": list(i.firing),
        "acted": i.acted,
        "actions": list(i.actions),
        "escalated_at": _iso(i.escalated_at),
        "escalation_reason": i.escalation_reason,
        "ladder": ladder,
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


async def list_board(call: Call) -> m.BoardList:
    q = call.query_as(m.BoardQuery)
    journal = call.op.journal
    if q.state is None:
        items = [i for i in await journal.live_incidents()][-q.limit :][::-1]
    else:
        items = await journal.incidents(state=q.state.value, limit=q.limit)
    return m.BoardList.model_validate({"incidents": [board_incident(i) for i in items]})


async def show_board(call: Call) -> m.BoardDetail:
    incident_id = call.path_as(m.BoardPath).id
    i = await call.op.journal.incident(incident_id)
    if i is None:
        raise NotFound(f"no incident {incident_id[:64]!r}; GET /api/v1/incident-board lists them")
    events = [
        {"at": e.at.isoformat(), "kind": e.kind, "text": e.text}
        for e in await call.op.journal.incident_events(i.id)
    ]
    alerts = [int(a) for a in await call.op.journal.incident_alerts(i.id)]
    return m.BoardDetail.model_validate({**board_incident(i), "events": events, "alerts": alerts})


async def acknowledge_incident(call: Call) -> m.BoardResult:
    body = call.body_as(m.ReasonRequest)
    i = await call.op.acknowledge_incident(
        actor=call.caller.name, incident_id=call.path_as(m.BoardPath).id, reason=body.reason
    )
    return m.BoardResult.model_validate({"incident": board_incident(i)})


async def resolve_incident(call: Call) -> m.BoardResult:
    body = call.body_as(m.ReasonRequest)
    i = await call.op.resolve_incident(
        actor=call.caller.name, incident_id=call.path_as(m.BoardPath).id, reason=body.reason
    )
    return m.BoardResult.model_validate({"incident": board_incident(i)})


async def list_deferred(call: Call) -> m.DeferredList:
    q = call.query_as(m.DeferredQuery)
    journal = call.op.journal
    rows = await journal.deferrals(status=q.status.value, limit=q.limit)
    items = [
        {
            "id": d.id,
            "rule": d.rule,
            "target": d.target,
            "fingerprint": d.fingerprint,
            "starts_at": d.starts_at.isoformat(),
            "severity": d.severity,
            "status": d.status,
            "reason": d.reason,
            "created_at": d.created_at.isoformat(),
            "attempts": d.attempts,
            "last_at": _iso(d.last_at),
            "done_at": _iso(d.done_at),
            "result": d.result,
            "decision_id": d.decision_id,
            "redecided_as": d.decision,
        }
        for d in rows
    ]
    return m.DeferredList.model_validate({"deferred": items, "waiting": journal.deferred_waiting()})


async def list_timers(call: Call) -> m.TimerList:
    q = call.query_as(m.TimersQuery)
    rows = await call.op.journal.timers(pending=q.state is m.TimerState.PENDING, limit=q.limit)
    items = [
        {
            "id": t.id,
            "kind": t.kind,
            "key": t.key,
            "due_at": t.due_at.isoformat(),
            "payload": t.payload,
            "attempts": t.attempts,
            "claimed_by": t.claimed_by,
            "claimed_until": _iso(t.claimed_until),
            "done_at": _iso(t.done_at),
            "result": t.result,
        }
        for t in rows
    ]
    return m.TimerList.model_validate({"timers": items})
