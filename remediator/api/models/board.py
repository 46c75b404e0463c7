"""The incident board, deferred work and timers: what unfolds over time, as the API shows it.

`/incident-board` lists the incidents remediator manages (grouped by Alertmanager group or target,
with their severity, state, escalation ladder and timeline) and takes a human's acknowledge or
resolve; `/deferred` lists the decisions waiting for a slot, in the order they will be decided again
(most severe first, then oldest); `/timers` lists what the scheduler will do next.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints

from remediator.api.models.answers import _Answer
from remediator.api.models.base import DEFAULT_LIMIT, Time
from remediator.api.models.requests import Limit, _one_of, _Strict

__all__ = [
    "BoardDetail",
    "BoardEvent",
    "BoardIncident",
    "BoardList",
    "BoardPath",
    "BoardQuery",
    "BoardResult",
    "BoardState",
    "Deferred",
    "DeferredList",
    "DeferredQuery",
    "DeferredStatus",
    "LadderStep",
    "TimerList",
    "TimerOut",
    "TimerState",
    "TimersQuery",
]


class BoardState(enum.StrEnum):
    OPEN = "open"
    MITIGATED = "mitigated"
    WATCHING = "watching"
    RESOLVED = "resolved"


class DeferredStatus(enum.StrEnum):
    WAITING = "waiting"
    REDECIDED = "redecided"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SHED = "shed"


class TimerState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"


# -- requests ------------------------------------------------------------------------------------


class BoardQuery(_Strict):
    state: Annotated[BoardState, BeforeValidator(_one_of("state", BoardState))] | None = Field(
        default=None, description="one state; default: every incident not yet resolved"
    )
    limit: Limit = DEFAULT_LIMIT


class BoardPath(_Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="incident id from the board (YYYYMMDD-HHMMSS-xxxxxx)"
    )


class DeferredQuery(_Strict):
    status: Annotated[DeferredStatus, BeforeValidator(_one_of("status", DeferredStatus))] = Field(
        default=DeferredStatus.WAITING, description="waiting (default, in retry order) or how it ended"
    )
    limit: Limit = DEFAULT_LIMIT


class TimersQuery(_Strict):
    state: Annotated[TimerState, BeforeValidator(_one_of("state", TimerState))] = Field(
        default=TimerState.PENDING, description="pending (soonest first) or done (newest first)"
    )
    limit: Limit = DEFAULT_LIMIT


# -- answers -------------------------------------------------------------------------------------


class LadderStep(_Answer):
    after_s: float = Field(description="seconds after the incident escalated")
    to: str = Field(description="`page NAME` (PagerDuty service) or `notify NAME` (channel)")
    due_at: Time | None = Field(default=None, description="when it fires (null: not escalated)")
    fired: bool


class BoardIncident(_Answer):
    id: str
    title: str
    severity: str = Field(description="P0-P4, or empty when no rule or alert says")
    state: BoardState
    rule: str
    target: str | None
    key: str = Field(description="what groups its alerts: group:<groupKey>, target:<ns/Kind/name>")
    opened_at: Time
    updated_at: Time
    channel: str | None
    firing: list[str] = Field(description="fingerprints of its alerts still firing")
    acted: bool
    actions: list[str] = Field(description="what was done, one line each")
    escalated_at: Time | None
    escalation_reason: str
    ladder: list[LadderStep]
    pages: list[str] = Field(description="PagerDuty services paged and not yet resolved")
    acknowledged_at: Time | None
    acknowledged_by: str | None
    mitigated_at: Time | None
    resolved_at: Time | None
    watch_until: Time | None
    reopened: int
    updates_every_s: float | None
    watch_s: float | None


class BoardList(_Answer):
    incidents: list[BoardIncident]


class BoardEvent(_Answer):
    at: Time
    kind: str
    text: str


class BoardDetail(BoardIncident):
    events: list[BoardEvent] = Field(description="its timeline, oldest first")
    alerts: list[int] = Field(description="journal ids of its alerts (see /incidents for their episodes)")


class BoardResult(_Answer):
    incident: BoardIncident


class Deferred(_Answer):
    id: int
    rule: str
    target: str
    fingerprint: str
    starts_at: Time
    severity: str
    status: DeferredStatus
    reason: str = Field(description="why it waits (or waited), as last decided")
    created_at: Time
    attempts: int = Field(description="times decided again and still waiting")
    last_at: Time | None
    done_at: Time | None
    result: str | None
    decision_id: int = Field(description="the decision that deferred it")
    redecided_as: int | None = Field(description="the decision that ended the wait")


class DeferredList(_Answer):
    deferred: list[Deferred]
    waiting: int = Field(description="decisions waiting now, all of them")


class TimerOut(_Answer):
    id: int
    kind: str
    key: str
    due_at: Time
    payload: dict[str, Any]
    attempts: int
    claimed_by: str | None
    claimed_until: Time | None
    done_at: Time | None
    result: str | None


class TimerList(_Answer):
    timers: list[TimerOut]
