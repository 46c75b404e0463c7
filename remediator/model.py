"""Values that cross stage boundaries.

Every stage (receivers, journal, rules, engine, guards, actions) speaks in these
frozen dataclasses, never in aiohttp requests, SQLite rows or kubernetes-asyncio
models, so each stage can be tested with literals and a journal row can be
rebuilt into a value.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NewType

PayloadId = NewType("PayloadId", int)
AlertId = NewType("AlertId", int)
DecisionId = NewType("DecisionId", int)
ExecutionId = NewType("ExecutionId", int)
RuleName = NewType("RuleName", str)

Source = Literal["alertmanager", "pagerduty", "manual"]
AlertStatus = Literal["firing", "resolved"]
ActionKind = Literal[
    "rollout_restart",
    "rollout_undo",
    "scale",
    "set_env",
    "delete_pod",
    "set_image",
    "pause_rollout",
    "resume_rollout",
    "run_job",
    "http_request",
]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "rollout_restart",
    "rollout_undo",
    "scale",
    "set_env",
    "delete_pod",
    "set_image",
    "pause_rollout",
    "resume_rollout",
    "run_job",
    "http_request",
)
WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert as any source reports it, normalized.

    `fingerprint` identifies the label set; an episode is `(fingerprint, starts_at)`.
    """

    source: Source
    fingerprint: str
    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""
    payload_id: PayloadId | None = None
    group_key: str = ""
    """Alertmanager's groupKey: the alerts of one notification group are one incident. Read from
    the payload; not kept in the journal's alert rows (an incident remembers its alerts itself)."""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The Kubernetes object an action changes. Names are validated before use."""

    kind: WorkloadKind
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionSpec:
    """One remediation step of a rule, with its parameters as written in the rule file."""

    kind: ActionKind
    params: Mapping[str, Any] = field(default_factory=dict)


class Outcome(enum.StrEnum):
    """What the engine decided for one (alert, rule, target). Closed set: used as a metric label."""

    ACT = "act"
    DRY_RUN = "dry_run"
    COOLDOWN = "cooldown"
    IN_FLIGHT = "in_flight"
    RESOLVED = "resolved"
    CONDITION_FALSE = "condition_false"
    INVALID_TARGET = "invalid_target"
    OUTSIDE_ALLOWED_NAMESPACES = "outside_allowed_namespaces"
    TARGET_OPTED_OUT = "target_opted_out"
    RATE_LIMITED = "rate_limited"
    BREAKER_OPEN = "breaker_open"
    PAUSED = "paused"
    STALE_ALERT = "stale_alert"
    NEEDS_APPROVAL = "needs_approval"
    NOT_CONFIRMED = "not_confirmed"
    DUPLICATE = "duplicate"
    CONCURRENCY_LIMITED = "concurrency_limited"
    NOT_APPLICABLE = "not_applicable"
    DEFERRED = "deferred"
    """A transient denial (target busy, concurrency limit, storm brake): decided again when a slot frees."""
    ESCALATED = "escalated"
    """Re-fired within the watch after an action resolved it: humans are called instead of acting again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The engine's verdict for one alert, one rule and one concrete target."""

    alert: Alert
    rule: RuleName
    target: Target | None
    actions: tuple[ActionSpec, ...]
    outcome: Outcome
    reason: str
    dry_run: bool
    decided_at: datetime
    alert_id: AlertId | None = None
    id: DecisionId | None = None
    severity: str = ""
    """The rule's severity, else the alert's `severity` label: deferred work is retried most severe first."""
    skipped_guards: frozenset[str] = frozenset()
    """Guards a human answered for (an approval): a deferred decision is decided again without them."""

    @property
    def acts(self) -> bool:
        """True when an execution follows (for real or as a dry-run plan)."""
        return self.outcome in (Outcome.ACT, Outcome.DRY_RUN)


class ExecutionStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    PLANNED = "planned"  # dry-run: the plan was recorded, nothing changed
    SKIPPED = "skipped"  # the precondition did not hold (NotApplicableError): nothing changed


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One field an action changes (or would change, in dry-run): the audit diff."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """What an action did: the diff of what changed and a one-line summary."""

    kind: ActionKind
    target: Target
    changes: tuple[Change, ...]
    summary: str
    applied: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationStep:
    """One rung of an escalation ladder: `after` the incident escalated, page a PagerDuty service
    (a named routing key) or notify a channel, if the incident is still open and unacknowledged."""

    after_s: float
    page: str | None = None
    notify: str | None = None

    @property
    def to(self) -> str:
        return f"page {self.page}" if self.page else f"notify {self.notify}"
