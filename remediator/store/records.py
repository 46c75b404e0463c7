"""What crosses the journal's boundary: stored payloads, recorded batches, execution updates and
records, the guard feed, and the two ways a write can fail. Frozen values, the same for every back-end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediator.errors import TRY_LATER, RemediatorError
from remediator.model import (
    AlertId,
    Change,
    DecisionId,
    ExecutionId,
    ExecutionStatus,
    PayloadId,
    Source,
)


class JournalOverloaded(RemediatorError):
    """Too many writes waiting or too large a backlog: the webhook answers 503 so the sender retries."""


class JournalUnavailable(RemediatorError):
    """The journal cannot be written (disk full, I/O error): 503, nothing accepted is lost."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredPayload:
    id: PayloadId
    source: Source
    received_at: datetime
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedBatch:
    alert_ids: tuple[AlertId, ...]
    decision_ids: tuple[DecisionId, ...]
    execution_ids: dict[int, ExecutionId]
    """Index in the `decisions` argument -> the execution created for it (acting decisions only)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionUpdate:
    status: ExecutionStatus
    attempts: int = 0
    error: str | None = None
    changes: tuple[Change, ...] = ()
    summary: str = ""

    @property
    def try_later(self) -> bool:
        """Nothing changed and it should work soon (a disruption budget refused while acting): the
        execution holds no cooldown and its decision is deferred again."""
        return self.status is ExecutionStatus.SKIPPED and (self.error or "").startswith(TRY_LATER)

    def changes_json(self) -> str:
        """The changes as both journals store them: a JSON list of {path, before, after}."""
        if not self.changes:
            return "[]"  # json.dumps([]): what most plans and skips store
        return json.dumps(
            [{"path": c.path, "before": c.before, "after": c.after} for c in self.changes], default=str
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRecord:
    """An execution as the audit trail shows it: what, where, why, what changed, how it ended."""

    id: ExecutionId
    decision_id: DecisionId
    alert_id: AlertId | None
    rule: str
    target: str
    actions: str
    dry_run: bool
    status: ExecutionStatus
    attempts: int
    error: str | None
    changes: list[dict[str, Any]]
    summary: str
    reason: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptedExecution:
    execution_id: ExecutionId
    decision_id: DecisionId
    alert_id: AlertId | None
    rule: str
    target: str
    started: bool
    """True when the crash hit a running execution: the change may have been applied."""
    dry_run: bool
    decided_at: datetime
    """When its decision was made: the time the guards counted it at (cooldown, rate limits)."""
    fingerprint: str | None
    starts_at: datetime | None
    """Its alert's episode (dedup), when the alert is still in the journal."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActRecord:
    """An acting decision (it has an execution), as the guards count it: cooldown, rate limits, dedup."""

    rule: str
    target: str
    dry_run: bool
    decided_at: datetime
    fingerprint: str | None
    starts_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeRecord:
    """A real execution that ended either way: the circuit breaker's input."""

    rule: str
    target: str
    ok: bool
    finished_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EndRecord:
    """An execution that ended without a result for the breaker (skipped while acting, interrupted),
    fed to the replicas that did not see it end: a half-open probe it held is free."""

    act: ActRecord
    counts: bool
    """False when it changed nothing (a disruption budget refused it while acting: TRY_LATER; taken
    over before it started): its act no longer counts toward cooldown, rate limits or dedup."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningRecord:
    """An execution queued or running on some replica: the in-flight and concurrency limits' input."""

    rule: str
    target: str
    dry_run: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardFeed:
    """What other replicas wrote since this one last decided, so its guards decide on the whole truth.

    Empty with a single writer (SQLite): the guards' memory is already the whole truth.
    """

    full: bool = False
    """Replace the guards' history with this feed (first decision, or after a failed transaction)."""
    acts: tuple[ActRecord, ...] = ()
    outcomes: tuple[OutcomeRecord, ...] = ()
    ends: tuple[EndRecord, ...] = ()
    """Applied after `acts`: an act and its end can come in the same feed."""
    running: tuple[RunningRecord, ...] | None = None
    """Every unfinished execution of every replica; None when the guards' own count is the truth."""
