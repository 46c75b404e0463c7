"""Every request and response of the override API (/api/v1), as pydantic models: the one description.

The route table (routes.py) names, for each route, its path, query and body models and its
response model; the handlers (control.py) receive the parsed requests and return the responses;
the OpenAPI document (openapi.py) is generated from these models; `remediator ctl` parses the
answers into them and takes its choices from the same enums. A new endpoint touches this module
and the table.

Requests are strict: an unknown key or query parameter is a typo, and a typo must not pass
silently. Query and path values keep the API's own error messages ("limit must be an integer from
1 to 500, not 'x'"). Responses allow keys they do not name (a rule's detail carries every field of
the rule file), so an older `ctl` still reads a newer daemon. Times are RFC 3339 strings in UTC.
This module imports nothing of the daemon but its value types: `ctl` loads it on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

from remediator.durations import parse_duration
from remediator.model import ExecutionStatus, Outcome, WorkloadKind
from remediator.receivers.times import LenientStorableTime, storable

__all__ = ["ApprovalStatus", "ExecutionStatus", "IncidentStatus", "Outcome", "WorkloadKind"]

PREFIX = "/api/v1"
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_ID = 2**63 - 1
"""The largest id the journal holds: a larger one is no row, not an overflow."""

Scope = Literal["read", "admin"]
BreakerState = Literal["closed", "half_open", "open"]
RunMode = Literal["running", "paused", "dry-run"]
Via = Literal["alert", "trigger", "approval"]
EventType = Literal["alert", "decision", "execution", "escalation"]
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An RFC 3339 time in UTC, as the journal gives it."""


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class IncidentStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class TimelineFormat(enum.StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"


# -- query and path values, parsed with the API's own messages ------------------------------------


def _one_of(key: str, kind: type[enum.StrEnum]) -> Callable[[object], object]:
    values = [v.value for v in kind]

    def check(value: object) -> object:
        if value not in values:
            raise ValueError(f"{key} must be one of {', '.join(values)}, not {str(value)[:40]!r}")
        return value

    return check


def _limit(value: object) -> object:
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {text[:40]!r}")
    return int(text)


def _since(value: object, info: ValidationInfo) -> object:
    """RFC 3339 time, or a duration meaning that long ago (`since=2h`)."""
    if isinstance(value, datetime):
        return value
    text = str(value)
    now: datetime = (info.context or {}).get("now") or datetime.now(UTC)
    try:
        return now - timedelta(seconds=parse_duration(text))
    except (ValueError, OverflowError):
        pass
    try:
        return storable(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(
            "since must be an RFC 3339 time (2026-11-23T10:00:00Z) between years 1 and 9999 in UTC, "
            f"or a duration (2h), not {text[:40]!r}"
        ) from None


def _cursor(value: object) -> object:
    """`next` from the previous page: a row id, as text. Anything else was not given out by this API."""
    text = str(value)
    if text and (not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= MAX_ID):
        raise ValueError(f"cursor {text[:40]!r} is not a cursor this API gave out")
    return text


def _positive_id(what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        text = str(value)
        if not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= MAX_ID:
            raise ValueError(f"{what} id must be a positive integer, not {text[:40]!r}")
        return int(text)

    return check


Limit = Annotated[
    int,
    BeforeValidator(_limit),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "description": f"page size (at most {MAX_LIMIT})",
        }
    ),
]
DURATION_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^[1-9][0-9]{0,3}(ms|s|m|h|d)$",
    "description": "a duration such as 30m or 2h (compound ones like 1h30m are accepted too)",
}
Since = Annotated[
    datetime,
    BeforeValidator(_since),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, DURATION_SCHEMA],
            "description": "RFC 3339 time (years 1 to 9999 in UTC), or a duration meaning that long ago",
        }
    ),
]
Cursor = Annotated[
    str,
    BeforeValidator(_cursor),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[1-9][0-9]{0,17}$",
            "description": "`next` from the previous page (opaque)",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoQuery(_Strict):
    """This endpoint takes no query parameter."""


class ExecutionsQuery(_Strict):
    rule: str | None = Field(default=None, description="rule name")
    target: str | None = Field(
        default=None, description="namespace/Kind/name, or namespace/name for any kind"
    )
    outcome: Annotated[ExecutionStatus, BeforeValidator(_one_of("outcome", ExecutionStatus))] | None = Field(
        default=None, description="execution status"
    )
    since: Since | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class ApprovalsQuery(_Strict):
    status: Annotated[ApprovalStatus, BeforeValidator(_one_of("status", ApprovalStatus))] | None = None
    limit: Limit = DEFAULT_LIMIT


class IncidentsQuery(_Strict):
    status: Annotated[IncidentStatus, BeforeValidator(_one_of("status", IncidentStatus))] | None = None
    since: Since | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class AuditQuery(_Strict):
    actor: str | None = Field(default=None, description="token name")
    action: str | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class TimelineQuery(_Strict):
    format: Annotated[TimelineFormat, BeforeValidator(_one_of("format", TimelineFormat))] = Field(
        default=TimelineFormat.JSON, description="json, or a postmortem draft in Markdown"
    )


Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class NoPath(_Strict):
    pass


class RulePath(_Strict):
    name: Annotated[
        str,
        WithJsonSchema(
            {"type": "string", "minLength": 1, "maxLength": 253, "description": "a loaded rule's name"}
        ),
    ]


_ID_SCHEMA = WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "numeric id"})


class ExecutionPath(_Strict):
    id: Annotated[int, BeforeValidator(_positive_id("execution")), _ID_SCHEMA]


class ApprovalPath(_Strict):
    id: Annotated[int, BeforeValidator(_positive_id("approval")), _ID_SCHEMA]


class BreakerPath(_Strict):
    key: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="rule:namespace/Kind/name, URL-encoded"
    )


class IncidentPath(_Strict):
    id: Annotated[str, StringConstraints(min_length=1)] = Field(description="incident id from the list")


# -- request bodies ---------------------------------------------------------------------------------------

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OptionalReason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Labels = Annotated[
    # An empty name is allowed, as Alertmanager allows it (no matcher can name it): OpenAPI 3.0 cannot
    # say otherwise, and the document must describe exactly what is accepted.
    dict[Annotated[str, StringConstraints(max_length=256)], str],
    Field(max_length=64, description="label names of at most 256 characters"),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class PauseRequest(_Body):
    reason: Reason = Field(description="why (shown in status, decisions and the audit)")
    rule: Name | None = Field(default=None, description="pause this rule only")
    for_: Annotated[str, WithJsonSchema(DURATION_SCHEMA)] | None = Field(
        default=None,
        alias="for",
        max_length=64,
        description="expiry as a duration (30m, 2h; 1h30m too); none: until resumed",
    )


class ResumeRequest(_Body):
    reason: Reason
    rule: Name | None = None


class DryRunRequest(_Body):
    enabled: bool
    reason: Reason
    rule: Name | None = None


class ReloadRequest(_Body):
    reason: OptionalReason = ""


class ReasonRequest(_Body):
    reason: Reason


class OptionalReasonRequest(_Body):
    reason: OptionalReason = ""


class AlertInput(_Body):
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    startsAt: LenientStorableTime | None = None  # Alertmanager's spelling


class TargetInput(_Body):
    namespace: Name
    name: Name
    kind: WorkloadKind | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)


class TriggerRequest(_Body):
    """Exactly one of `alert` or `target`."""

    alert: AlertInput | None = None
    target: TargetInput | None = None
    dry_run: bool = Field(default=True, description="false acts for real and needs an admin token")
    reason: OptionalReason = ""


# -- responses ----------------------------------------------------------------------------------------------


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
