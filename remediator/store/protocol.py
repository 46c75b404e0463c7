"""What the rest of the daemon needs from a journal, independent of the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from remediator.errors import RemediatorError
from remediator.model import (
    Alert,
    AlertId,
    Change,
    Decision,
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


class Journal(Protocol):
    async def accept(self, source: Source, body: bytes) -> PayloadId:
        """Durably store one webhook payload. Raises JournalOverloaded or JournalUnavailable."""
        ...

    def backlog(self) -> int:
        """Accepted payloads not yet processed."""
        ...

    def intake_waiting(self) -> int:
        """Webhook payloads waiting for their commit: the processor keeps its batches small meanwhile."""
        ...

    async def wait_for_payloads(self, timeout_s: float) -> None: ...

    async def pending_payloads(self, limit: int) -> list[StoredPayload]: ...

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        """In one transaction: the alerts, the decisions (alert index, decision), an execution per
        acting decision, and the payloads marked processed. All or nothing, so a crash replays it."""
        ...

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]: ...

    async def start_execution(self, execution_id: ExecutionId) -> None: ...

    async def finish_execution(self, execution_id: ExecutionId, update: ExecutionUpdate) -> None: ...

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        """Mark executions a crash left pending or running as interrupted, and return them."""
        ...

    async def recent_acts(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        """(rule, target key, dry_run, decided_at) of acting decisions since `since` whose
        execution may have changed something (the inputs of cooldown and rate limits)."""
        ...

    async def get_alert(self, alert_id: AlertId) -> Alert | None: ...

    async def executions(
        self,
        *,
        rule: str | None = None,
        target: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[ExecutionRecord]: ...

    async def decision_counts(self) -> dict[str, int]:
        """Decisions by outcome: for tests, status and the CLI."""
        ...

    async def count(self, table: str) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptedExecution:
    execution_id: ExecutionId
    decision_id: DecisionId
    alert_id: AlertId | None
    rule: str
    target: str
    started: bool
    """True when the crash hit a running execution: the change may have been applied."""
