"""What the override API answers. Answers allow keys they do not name (a rule's detail carries every
field of the rule file), so an older `ctl` still reads a newer daemon. Times are RFC 3339 in UTC."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from remediator.api.models.base import (
    ApprovalStatus,
    BreakerState,
    EventType,
    ExecutionStatus,
    IncidentStatus,
    Outcome,
    RunMode,
    Scope,
    Time,
    Via,
)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Error(_Answer):
    error: str
    detail: Any = Field(default=None, description="list or object, or null")


class Pause(_Answer):
    by: str
    reason: str
    until: Time | None = None


class Caller(_Answer):
    name: str
    scope: Scope


class DryRunState(_Answer):
    global_: bool = Field(alias="global")
    reason: str | None
    rules: list[str]


class RulesState(_Answer):
    loaded: int
    enabled: int
    files: list[str]
    last_reload: dict[str, Any] | None = Field(description="when, by whom and how the last reload ended")


class Breaker(_Answer):
    key: str = Field(description="rule:namespace/Kind/name (URL-encode it in paths)")
    rule: str
    target: str
    state: BreakerState
    failures: int
    opened_at: Time | None = None
    half_open_at: Time | None = None


class BreakersState(_Answer):
    open: int
    half_open: int
    not_closed: list[Breaker]


class JournalState(_Answer):
    healthy: bool
    error: str | None
    backlog: int
    max_backlog: int
    write_errors: float | None


class KubernetesState(_Answer):
    connected: bool
    dry_run_reason: str | None


class Status(_Answer):
    mode: RunMode
    version: str
    caller: Caller
    paused: Pause | None
    paused_rules: dict[str, Pause]
    dry_run: DryRunState
    rules: RulesState
    breakers: BreakersState
    journal: JournalState
    kubernetes: KubernetesState


class PauseResult(_Answer):
    paused: bool
    rule: str | None
    pause: Pause | None


class ResumeResult(_Answer):
    paused: bool
    rule: str | None
    was_paused: bool
    lifted: Pause | None


class DryRunResult(_Answer):
    enabled: bool
    rule: str | None
    changed: bool
    note: str | None


class RuleSummary(_Answer):
    name: str
    description: str
    severity: str
    enabled: bool
    source: str = Field(description="file:line")
    actions: list[str]
    paused: Pause | None
    dry_run: bool


class RuleList(_Answer):
    rules: list[RuleSummary]
    files: list[str]


class RuleTarget(_Answer):
    kind: str
    namespace: str
    name: str


class RuleDetail(_Answer):
    """A rule as loaded, spelled as in the rule file (matchers, templates and thresholds as text)."""

    name: str
    source: str = Field(description="file:line")
    match: list[str]
    when: str | None
    target: RuleTarget
    actions: list[dict[str, Any]]
    guards: dict[str, Any]
    paused: Pause | None
    in_dry_run: bool


class ReloadResult(_Answer):
    result: Literal["success"]
    rules: int
    files: int
    added: list[str]
    removed: list[str]
    changed: list[str]


class ActionOut(_Answer):
    kind: str
    params: dict[str, Any]


class DecisionAlert(_Answer):
    source: str
    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: Time


class DecisionOut(_Answer):
    rule: str
    target: str | None
    actions: list[ActionOut]
    outcome: Outcome
    reason: str
    dry_run: bool
    decided_at: Time
    alert: DecisionAlert


class Recorded(_Answer):
    """A decision journaled on a human's request, and the execution it started (if it acts)."""

    decision: DecisionOut
    alert_id: int | None
    decision_id: int
    execution_id: int | None


class Change(_Answer):
    path: str
    before: Any = None
    after: Any = None


class ExecutionDecision(_Answer):
    outcome: str
    reason: str
    decided_at: Time


class AuditEntry(_Answer):
    id: int
    at: Time
    actor: str = Field(description="the token's name")
    action: str
    detail: dict[str, Any] = Field(description="what changed, and the reason")


class Execution(_Answer):
    """What was done, where, why and how it ended: the audit trail's unit."""

    id: int
    decision_id: int
    rule: str
    target: str
    actions: list[str]
    dry_run: bool
    status: ExecutionStatus
    attempts: int
    error: str | None
    changes: list[Change] = Field(
        description="the diff: each field changed (or, in dry-run, that would change)"
    )
    summary: str
    created_at: Time
    started_at: Time | None
    finished_at: Time | None
    decision: ExecutionDecision
    who: str = Field(description="token name of the human who started it, else remediator")
    via: Via
    alert: dict[str, Any] | None
    audit: list[AuditEntry] | None = Field(
        default=None, description="the audit entries naming it (one execution)"
    )


class ExecutionPage(_Answer):
    executions: list[Execution]
    next: str | None = Field(description="cursor of the next page; null: last")


class Approval(_Answer):
    id: int
    decision_id: int
    alert_id: int | None
    rule: str
    target: str
    status: ApprovalStatus
    created_at: Time
    expires_at: Time
    decided_by: str | None
    decided_at: Time | None
    note: str | None
    reason: str
    actions: list[str]


class ApprovalList(_Answer):
    approvals: list[Approval]


class ApproveResult(Recorded):
    approval: Approval


class RejectResult(_Answer):
    approval: Approval


class BreakerList(_Answer):
    breakers: list[Breaker]


class ResetResult(_Answer):
    reset: bool
    was: Breaker


class Incident(_Answer):
    """An alert episode, `(fingerprint, startsAt)`."""

    id: str = Field(description="<fingerprint>-<startsAt unix seconds>")
    fingerprint: str
    alertname: str
    severity: str
    status: IncidentStatus
    starts_at: Time
    ends_at: Time | None
    alerts: int
    labels: dict[str, str]


class IncidentPage(_Answer):
    incidents: list[Incident]
    next: str | None = Field(description="cursor of the next page; null: last")


class TimelineEvent(_Answer):
    """One event; the other keys depend on its type (an alert's status, a decision's outcome...)."""

    type: EventType
    at: Time


class Timeline(Incident):
    title: str
    duration_s: float
    ongoing: bool
    actions_taken: list[str]
    events: list[TimelineEvent]


class AuditPage(_Answer):
    audit: list[AuditEntry]
    next: str | None = Field(description="cursor of the next page; null: last")
