"""Deciding on the shared journal: one replica at a time, in one transaction per decision scope.

A decision scope first takes an exclusive advisory lock, then reads what the other replicas wrote
since this one last decided (the guard feed), so guard state is read and reserved in the
transaction that records the decision (the scope itself: postgres_scope.py). Receiving and
executing, the slow parts, run in parallel on every replica; deciding is CPU-cheap and takes turns.
A mixin of `PostgresJournal`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import asyncpg

from remediator.clock import Clock
from remediator.model import Alert, AlertId, Decision, DecisionId, ExecutionId, ExecutionStatus, PayloadId
from remediator.store.postgres_decisions import PostgresDecisionRecords
from remediator.store.postgres_reads import stored_payload
from remediator.store.postgres_scope import PostgresScope
from remediator.store.records import (
    ActRecord,
    EndRecord,
    GuardFeed,
    InterruptedExecution,
    JournalUnavailable,
    OutcomeRecord,
    RecordedBatch,
    RunningRecord,
    StoredPayload,
)

DECISION_LOCK = 0x72656D64
"""Advisory lock key ("remd"): exclusive while deciding, shared while an execution ends."""
_GUARD_HORIZON_S = 86400.0
"""How far back a full guard rebuild reads: the longest window a guard looks at (as at start-up)."""


_CHANGED_NOTHING = (
    "((e.status = 'interrupted' AND e.started_at IS NULL)"
    " OR (e.status = 'skipped' AND e.error LIKE 'try later: %'))"
)
"""An execution that changed nothing and counts as no act: taken over before it started, or refused
while acting by a disruption budget (TRY_LATER: its decision is deferred again)."""


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _act(r: asyncpg.Record) -> ActRecord:
    return ActRecord(
        rule=r[0],
        target=r[1],
        dry_run=bool(r[2]),
        decided_at=datetime.fromtimestamp(r[3], UTC),
        fingerprint=r[4],
        starts_at=_dt(r[5]),
    )


class PostgresDeciding(PostgresDecisionRecords):
    """Decision scopes (`deciding`) and the guard feed each one starts with."""

    _pool: asyncpg.Pool
    _clock: Clock
    replica: str
    _lease_s: float
    _decide_lock: asyncio.Lock
    _full_sync: bool
    _act_mark: int
    _outcome_mark: int
    _backlog: int
    _deferred_waiting: int
    _claims_full: bool

    # -- deciding ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def deciding(self) -> AsyncIterator[PostgresScope]:
        async with self._decide_lock, self._pool.acquire() as conn:
            full = self._full_sync
            self._full_sync = True  # until this scope commits
            try:
                async with conn.transaction():
                    # A replica stalled inside the lock must not stop every other one for long: the
                    # server ends a transaction left idle this long, which releases the lock.
                    idle_ms = int(max(4 * self._lease_s, 60.0) * 1000)
                    await conn.execute(f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}")
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", DECISION_LOCK)
                    feed, marks = await self._feed(conn, full=full)
                    scope = PostgresScope(self, conn, feed)
                    yield scope
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                raise JournalUnavailable(f"journal write failed: {e}") from e
            # The ends this turn wrote itself (the executions it took over) are not fed back to it:
            # its guards were told in the turn. No other end can have committed meanwhile (the lock).
            self._act_mark, self._outcome_mark = marks[0], max(marks[1], scope.finish_mark)
            self._full_sync = False
            self._backlog = max(0, self._backlog - scope.processed)
            self._deferred_waiting = max(0, self._deferred_waiting - scope.settled)

    async def _feed(self, conn: asyncpg.Connection, *, full: bool) -> tuple[GuardFeed, tuple[int, int]]:
        """Under the decision lock: every execution insert and end committed before it is visible,
        so reading past the two marks misses nothing."""
        marks = await conn.fetchrow(
            "SELECT (SELECT COALESCE(max(id), 0) FROM executions),"
            " (SELECT COALESCE(max(finish_seq), 0) FROM executions)"
        )
        act_from = (
            " FROM executions e JOIN decisions d ON d.id = e.decision_id"
            " LEFT JOIN alerts a ON a.id = e.alert_id"
        )
        act_cols = "e.rule, e.target, e.dry_run, d.decided_at, a.fingerprint, a.starts_at"
        act_sql = f"SELECT {act_cols}{act_from}"
        outcome_sql = (
            "SELECT rule, target, status, finished_at FROM executions"
            " WHERE dry_run = 0 AND status IN ('succeeded', 'failed')"
        )
        ends: list[asyncpg.Record] = []  # a full feed leaves out what changed nothing (and ended)
        if full:
            since = self._clock.now().timestamp() - _GUARD_HORIZON_S
            # A queued execution that never started changed nothing: it holds no cooldown; nor does one a
            # disruption budget refused while acting (it is deferred again: TRY_LATER).
            acts = await conn.fetch(
                f"{act_sql} WHERE d.decided_at >= $1 AND NOT {_CHANGED_NOTHING} ORDER BY d.decided_at, e.id",
                since,
            )
            outcomes = await conn.fetch(
                outcome_sql + " AND finished_at >= $1 ORDER BY finished_at, id", since
            )
        else:
            acts = await conn.fetch(
                act_sql + " WHERE e.id > $1 AND e.owner <> $2 ORDER BY e.id", self._act_mark, self.replica
            )
            outcomes = await conn.fetch(
                outcome_sql + " AND finish_seq > $1 AND owner <> $2 ORDER BY finish_seq",
                self._outcome_mark,
                self.replica,
            )
            # Ends without a result: another replica's skips (this one's own were told by its runner),
            # and every take-over but this replica's own, its own executions taken over by another
            # included (see `finish_mark`).
            ends = await conn.fetch(
                f"SELECT {act_cols}, NOT {_CHANGED_NOTHING}{act_from} WHERE e.finish_seq > $1"
                " AND (e.status = 'interrupted' OR (e.status = 'skipped' AND e.owner <> $2))"
                " ORDER BY e.finish_seq",
                self._outcome_mark,
                self.replica,
            )
        running = await conn.fetch(
            "SELECT rule, target, dry_run FROM executions WHERE status IN ('pending', 'running') ORDER BY id"
        )
        feed = GuardFeed(
            full=full,
            acts=tuple(_act(r) for r in acts),
            outcomes=tuple(
                OutcomeRecord(
                    rule=r[0],
                    target=r[1],
                    ok=r[2] == ExecutionStatus.SUCCEEDED.value,
                    finished_at=datetime.fromtimestamp(r[3], UTC),
                )
                for r in outcomes
            ),
            ends=tuple(EndRecord(act=_act(r), counts=bool(r[6])) for r in ends),
            running=tuple(RunningRecord(rule=r[0], target=r[1], dry_run=bool(r[2])) for r in running),
        )
        return feed, (int(marks[0]), int(marks[1]))

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        """Outside a decision scope: a look at the oldest unprocessed payloads, nothing claimed."""
        rows = await self._pool.fetch(
            "SELECT id, source, received_at, body FROM payloads WHERE processed_at IS NULL"
            " ORDER BY id LIMIT $1",
            limit,
        )
        return [stored_payload(r) for r in rows]

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        async with self.deciding() as scope:
            return await scope.record_batch(payload_ids=payload_ids, alerts=alerts, decisions=decisions)

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        async with self.deciding() as scope:
            return await scope.record_decisions(decisions)

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        async with self.deciding() as scope:
            return await scope.interrupt_unfinished()

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> tuple[DecisionId, ExecutionId | None] | None:
        # Its execution is a new one: written in a decision transaction like every other.
        async with self.deciding() as scope:
            return await scope.settle_deferral(
                deferral_id, worker=worker, decision=decision, alert_id=alert_id
            )
