"""What the rest of the daemon needs from a journal, independent of the database.

Each consumer takes the narrowest protocol that serves it, and only `app.py` names an
implementation (`store.sqlite.SqliteJournal`; a PostgreSQL journal implements the same):

- `Intake`: the webhooks (accept a payload durably, the backlog for 503s and /readyz).
- `PipelineJournal`: the processor, crash recovery, the executor and the guards' start-up history
  (payloads in, decisions and executions out); decisions are made inside a `DecisionScope`.
- `OversightJournal`: what humans answer and read back: escalations (and those still open),
  approvals, the audit trail, and the decisions in force (pauses, dry-run, breaker resets).
- `ReadModel`: what the API, `ctl` and the console read (pages of executions, incidents and their
  timelines, audit), in the shapes of `readmodel.py`.
- `TimerStore`, `DeferralStore` (scheduling.py): work that happens later, claimed with a lease.
- `Journal`: all of them, what the override service and the Application hold.

Times cross as aware datetimes; rows read back for humans carry RFC 3339 strings. Approval rows
(`approvals`, `get_approval`) carry unix seconds; `readmodel.approval_json` turns them into JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from remediator.model import Alert, AlertId, Decision, DecisionId, ExecutionId, PayloadId, Source
from remediator.store.console_sessions import ConsoleSessionStore
from remediator.store.controls import ControlStore
from remediator.store.incidents import EscalationStore, IncidentStore
from remediator.store.readmodel import Page
from remediator.store.records import (
    ExecutionRecord,
    ExecutionUpdate,
    GuardFeed,
    InterruptedExecution,
    RecordedBatch,
    StoredPayload,
)
from remediator.store.revisions import OwnRevisionStore
from remediator.store.scheduling import DeferralStore, TimerStore


class Intake(Protocol):
    async def accept(self, source: Source, body: bytes) -> PayloadId:
        """Durably store one webhook payload. Raises JournalOverloaded or JournalUnavailable."""
        ...

    async def accept_once(
        self, source: Source, body: bytes, *, delivery_id: str, ttl_s: float
    ) -> PayloadId | None:
        """`accept`, unless a payload with this delivery id (PagerDuty's `X-Webhook-Id`) was accepted
        in the last `ttl_s`: then None and nothing written. The id is written in the payload's commit,
        so a retry is recognised after a restart and two copies at once are written once."""
        ...

    def backlog(self) -> int:
        """Accepted payloads not yet processed."""
        ...

    async def probe_write(self) -> None:
        """A small real write through the webhooks' own path (readiness): raises JournalUnavailable
        when the journal cannot take writes, JournalOverloaded when webhooks are being shed."""
        ...


class DecisionScope(Protocol):
    """One decision transaction: claim work, decide with the guards caught up, record.

    With several replicas on one database, scopes take turns across them (a lock held until the
    commit), so the guard state read at the start is still true when the decisions are written: two
    replicas deciding on the same alert at once produce one action and one `duplicate`. Nothing
    recorded inside is committed (nor should run) before the scope exits without an error.
    """

    feed: GuardFeed
    """What the other replicas wrote since this one last decided: apply it to the guards first."""

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        """Claim up to `limit` unprocessed payloads, oldest first, skipping any another replica holds."""
        ...

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch: ...

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]: ...

    async def interrupt_unfinished(self) -> list[InterruptedExecution]: ...

    async def get_alert(self, alert_id: AlertId) -> Alert | None: ...

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> tuple[DecisionId, ExecutionId | None] | None:
        """Record the decision that ends a deferral and close it (see `DeferralStore`)."""
        ...


class PipelineJournal(Intake, DeferralStore, Protocol):
    takeover_every_s: float | None
    """How often to look for executions a dead replica left; None: only at start-up (one writer)."""

    def deciding(self) -> AbstractAsyncContextManager[DecisionScope]:
        """Open a decision transaction (see DecisionScope)."""
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
        acting decision (an approval per decision that needs one), and the payloads marked processed.
        All or nothing, so a crash replays it."""
        ...

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        """Decisions on alerts already journaled (recovery, approvals), with their executions."""
        ...

    async def start_execution(self, execution_id: ExecutionId) -> bool:
        """pending -> running. False if it is no longer pending (another replica took it over, or it
        was interrupted): then it must not run."""
        ...

    @property
    def write_lease_s(self) -> float | None:
        """How long a `still_running` renewal keeps other replicas from taking the execution over,
        counted from when it was asked (a write must end within it); None: no other replica can."""
        ...

    async def still_running(self, execution_id: ExecutionId) -> bool:
        """Asked before each write of a running execution: True while it is still this replica's to
        run (on PostgreSQL the lease is renewed in the same statement, so no other replica can take it
        over for a whole lease). False once it was taken over or interrupted: nothing more may be
        applied, since another replica has decided it again."""
        ...

    async def finish_execution(self, execution_id: ExecutionId, update: ExecutionUpdate) -> bool:
        """Journal how it ended, unless it was taken over meanwhile (its record as interrupted stands:
        the decision taken again counted it as possibly applied). True when this end was journaled:
        only then may the caller's guards learn of it."""
        ...

    async def record_evidence(
        self,
        *,
        fingerprint: str,
        starts_at: datetime,
        execution_id: ExecutionId | None,
        target: str,
        moment: str,
        body: dict[str, Any],
    ) -> None:
        """What the cluster showed at `moment` ("before", "after ..."), for the incident's timeline and
        postmortem: bounded and redacted by the caller."""
        ...

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        """Mark executions whose runner is gone as interrupted, and return them: with one writer, every
        execution a crash left pending or running; with several replicas, those of replicas whose
        lease has expired."""
        ...

    async def get_alert(self, alert_id: AlertId) -> Alert | None: ...

    async def processed_payloads(self, source: Source, since: datetime) -> list[StoredPayload]:
        """The payloads from `source` received since `since` and already processed, oldest first: what
        start-up replays when processing one had an effect not journaled with it."""
        ...

    async def recent_acts(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        """(rule, target key, dry_run, decided_at) of acting decisions since `since` whose
        execution may have changed something (the inputs of cooldown and rate limits)."""
        ...

    async def execution_outcomes(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        """(rule, target, succeeded, finished_at) of real executions that ended either way, oldest
        first: the circuit breaker's history."""
        ...


class OversightJournal(EscalationStore, IncidentStore, ControlStore, Protocol):
    async def record_escalation(
        self,
        *,
        rule: str,
        target: str,
        dest: str,
        kind: str,
        dedup_key: str,
        status: str,
        attempts: int,
        error: str | None,
        execution_id: int | None,
        summary: str,
    ) -> None: ...

    async def record_audit(self, *, actor: str, action: str, detail: dict[str, Any]) -> int:
        """One change made by a human (or SIGHUP), with their name; returns the entry's id."""
        ...

    async def approvals(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Approval rows, newest first (pending ones past their expiry are expired first)."""
        ...

    async def get_approval(self, approval_id: int) -> dict[str, Any] | None: ...

    async def decide_approval(self, approval_id: int, *, status: str, by: str, note: str) -> bool:
        """pending -> approved/rejected, once. False if it was not pending (decided or expired)."""
        ...

    async def expire_approvals(self) -> int: ...


class ReadModel(Protocol):
    async def ping(self) -> None:
        """A read that touches the database: raises if the journal cannot be read."""
        ...

    async def list_executions(
        self,
        *,
        rule: str | None = None,
        target: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """The audit trail of executions, newest first: alert, decision and reason, diff, attempts, who.
        `target` is `ns/Kind/name`, or `ns/name` for any kind."""
        ...

    async def list_decisions(
        self,
        *,
        rule: str | None = None,
        outcome: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Decisions newest first, acting or not (the skips with their reasons), each with its
        alert's `incident` id, `alertname`, `severity` and its `execution` ({id, status} or None).
        `target` as in `list_executions`."""
        ...

    async def get_execution(self, execution_id: int) -> dict[str, Any] | None:
        """One execution with its alert, decision, diff and the audit entries that name it."""
        ...

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page: ...

    async def list_approvals(self, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Approvals as JSON (`readmodel.approval_json`), newest first."""
        ...

    async def list_incidents(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Alert episodes (fingerprint, startsAt), newest first."""
        ...

    async def incident_timeline(self, incident: str) -> dict[str, Any] | None:
        """One episode with its alerts, decisions, executions and escalations in time order."""
        ...

    async def executions(
        self,
        *,
        rule: str | None = None,
        target: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[ExecutionRecord]: ...

    async def decisions(self, *, limit: int = 100) -> list[dict[str, Any]]: ...

    async def decision_counts(self) -> dict[str, int]:
        """Decisions by outcome: for tests, status and the CLI."""
        ...

    async def escalations(self, *, limit: int = 100) -> list[dict[str, Any]]: ...

    async def audit(self, *, limit: int = 100) -> list[dict[str, Any]]: ...

    async def count(self, table: str) -> int: ...


class Journal(
    PipelineJournal, OversightJournal, ReadModel, TimerStore, OwnRevisionStore, ConsoleSessionStore, Protocol
):
    """The whole journal: what the Application and the override service hold."""
