"""The embedded journal: SQLite in WAL mode through aiosqlite. Implements `store.Journal`.

One writer task owns every write, in group commits (sqlite_writer.py). A second, read-only
connection serves reads: WAL lets them run while the writer commits. This module holds opening
and migrating the file and the pipeline's records (payloads, alerts, decisions, executions); the
classes it builds on hold the rest, one job each: oversight records (oversight.py), the read model
(queries.py, incident_queries.py), timers and deferrals (sqlite_scheduling.py), human controls and
delivery ids (sqlite_controls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiosqlite

from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.logs import get_logger
from remediator.model import (
    Alert,
    AlertId,
    Decision,
    DecisionId,
    ExecutionId,
    ExecutionStatus,
    Outcome,
    PayloadId,
    Source,
)
from remediator.store import sqlite_controls, sqlite_incidents, sqlite_scheduling, sqlite_schema
from remediator.store.incident_queries import IncidentQueries
from remediator.store.oversight import OversightRecords
from remediator.store.records import (
    ExecutionUpdate,
    GuardFeed,
    InterruptedExecution,
    RecordedBatch,
    StoredPayload,
)
from remediator.store.scheduling import approval_timers
from remediator.store.sqlite_writer import _Accept

log = get_logger("remediator.store")


_TABLES = (
    "payloads",
    "alerts",
    "decisions",
    "executions",
    "audit",
    "approvals",
    "escalations",
    "timers",
    "deferrals",
)
_UNFINISHED = (ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value)


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class SqliteJournal(
    OversightRecords,
    IncidentQueries,
    sqlite_incidents.IncidentRecords,
    sqlite_scheduling.SchedulingRecords,
    sqlite_controls.ControlRecords,
):
    """The embedded journal: SQLite in WAL mode, one writer task, a read-only second connection."""

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        *,
        max_pending: int,
        max_backlog: int,
        clock: Clock,
        approval_expiry_s: float = 3600.0,
        approval_remind_before_s: float = 900.0,
        max_deferred: int = 1000,
    ) -> None:
        super().__init__(writer, reader, max_pending=max_pending, max_backlog=max_backlog, clock=clock)
        self._approval_expiry_s = approval_expiry_s
        self._approval_remind_before_s = approval_remind_before_s
        self._max_deferred = max_deferred
        self._deferred_waiting = 0

    @property
    def _reads(self) -> aiosqlite.Connection:
        return self._r

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        synchronous: str = "full",
        max_pending: int = 2000,
        max_backlog: int = 1_000_000,
        clock: Clock = SYSTEM_CLOCK,
        approval_expiry_s: float = 3600.0,
        approval_remind_before_s: float = 900.0,
        max_deferred: int = 1000,
    ) -> AsyncIterator[SqliteJournal]:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            await writer.execute("PRAGMA busy_timeout=5000")
            applied = await sqlite_schema.migrate(writer, where=str(path), now=clock.now().timestamp())
            if applied:
                log.info("journal schema migrated", journal=str(path), versions=applied)
            reader = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        journal = cls(
            writer,
            reader,
            max_pending=max_pending,
            max_backlog=max_backlog,
            clock=clock,
            approval_expiry_s=approval_expiry_s,
            approval_remind_before_s=approval_remind_before_s,
            max_deferred=max_deferred,
        )
        try:
            await journal._load_counters()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(journal._writer_loop(), name="journal-writer")
                try:
                    yield journal
                finally:
                    # Writes queued before the close are committed: what was acknowledged is on disk.
                    journal._queue.put_nowait(None)
        finally:
            await reader.close()
            await writer.close()

    async def _load_counters(self) -> None:
        for table in _TABLES:
            rows = await self._r.execute_fetchall(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            self._next[table] = int(next(iter(rows))[0]) + 1
        self._deferred_waiting = await self._count_deferred_waiting()
        rows = await self._r.execute_fetchall("SELECT COUNT(*) FROM payloads WHERE processed_at IS NULL")
        self._backlog = int(next(iter(rows))[0])
        if self._backlog:
            self._new_payloads.set()

    def _save_counters(self) -> Any:
        return super()._save_counters(), self._deferred_waiting

    def _restore_counters(self, saved: Any) -> None:
        ids, self._deferred_waiting = saved
        super()._restore_counters(ids)

    async def _drop_repeated_deliveries(
        self, accepts: list[_Accept], results: list[tuple[asyncio.Future[Any], Any]]
    ) -> list[_Accept]:
        """Answer None to accepts whose delivery id was seen within its time to live (or earlier in
        this commit) and remember the ids of the others, in this transaction. Returns the others."""
        keyed = [a for a in accepts if a.delivery_id is not None]
        if not keyed:
            return accepts
        now = self._clock.now().timestamp()
        ttl = max(a.ttl_s for a in keyed)
        seen = await self._seen_deliveries(self._w, [a.delivery_id for a in keyed if a.delivery_id], ttl, now)
        fresh: list[_Accept] = []
        for a in accepts:
            if a.delivery_id is not None and a.delivery_id in seen:
                results.append((a.future, None))
                continue
            if a.delivery_id is not None:
                seen.add(a.delivery_id)
            fresh.append(a)
        ids = [a.delivery_id for a in fresh if a.delivery_id is not None]
        if ids:
            await self._remember_deliveries(self._w, ids, ttl, now)
        return fresh

    # -- deciding ----------------------------------------------------------------------------------

    takeover_every_s: float | None = None
    """One process writes this file: what a crash left unfinished is taken over at start-up only."""

    @contextlib.asynccontextmanager
    async def deciding(self) -> AsyncIterator[_Scope]:
        """One writer: the guards' memory is the whole truth (an empty feed), and each record call is
        its own transaction through the single writer."""
        yield _Scope(self)

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        rows = await self._r.execute_fetchall(
            "SELECT id, source, received_at, body FROM payloads"
            " WHERE processed_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [
            StoredPayload(
                id=PayloadId(r[0]),
                source=cast(Source, r[1]),
                received_at=datetime.fromtimestamp(r[2], UTC),
                body=bytes(r[3]),
            )
            for r in rows
        ]

    # -- processing results ------------------------------------------------------------------------

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        now = self._clock.now().timestamp()

        async def job(db: aiosqlite.Connection) -> RecordedBatch:
            first_alert = self._take_ids("alerts", len(alerts))
            await db.executemany(
                "INSERT INTO alerts(id, payload_id, source, fingerprint, status, starts_at, ends_at, labels,"
                " annotations, generator_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        first_alert + i,
                        a.payload_id,
                        a.source,
                        a.fingerprint,
                        a.status,
                        a.starts_at.timestamp(),
                        _ts(a.ends_at),
                        json.dumps(dict(a.labels)),
                        json.dumps(dict(a.annotations)),
                        a.generator_url,
                    )
                    for i, a in enumerate(alerts)
                ],
            )
            alert_ids = tuple(AlertId(first_alert + i) for i in range(len(alerts)))
            decision_ids, execution_ids = await self._insert_decisions(
                db, [(alert_ids[i], d) for i, d in decisions], now
            )
            await db.executemany(
                "UPDATE payloads SET processed_at = ? WHERE id = ?", [(now, pid) for pid in payload_ids]
            )
            return RecordedBatch(alert_ids=alert_ids, decision_ids=decision_ids, execution_ids=execution_ids)

        def processed() -> None:
            self._backlog -= len(payload_ids)

        return await self._submit(job, after_commit=processed)

    async def _insert_decisions(
        self, db: aiosqlite.Connection, decisions: Sequence[tuple[AlertId | None, Decision]], now: float
    ) -> tuple[tuple[DecisionId, ...], dict[int, ExecutionId]]:
        first = self._take_ids("decisions", len(decisions))
        rows = []
        executions = []
        approvals: list[tuple[Any, ...]] = []
        execution_ids: dict[int, ExecutionId] = {}
        for i, (alert_id, d) in enumerate(decisions):
            actions = "+".join(a.kind for a in d.actions)
            target = d.target.key if d.target else None
            rows.append(
                (
                    first + i,
                    alert_id,
                    d.rule,
                    target,
                    actions,
                    d.outcome.value,
                    d.reason,
                    int(d.dry_run),
                    d.decided_at.timestamp(),
                )
            )
            if d.acts and d.target is not None:
                eid = self._take_ids("executions", 1)
                execution_ids[i] = ExecutionId(eid)
                executions.append(
                    (
                        eid,
                        first + i,
                        alert_id,
                        d.rule,
                        target,
                        actions,
                        int(d.dry_run),
                        ExecutionStatus.PENDING.value,
                        now,
                    )
                )
            elif d.outcome is Outcome.NEEDS_APPROVAL and d.target is not None:
                if await self._approval_pending(db, d, approvals, now):
                    continue  # one pending approval per alert episode, rule and target
                approvals.append(
                    (
                        self._take_ids("approvals", 1),
                        first + i,
                        alert_id,
                        d.rule,
                        target,
                        "pending",
                        now,
                        now + self._approval_expiry_s,
                        d.alert.fingerprint,
                        d.alert.starts_at.timestamp(),
                    )
                )
        await db.executemany(
            "INSERT INTO decisions(id, alert_id, rule, target, actions, outcome, reason, dry_run, decided_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if executions:
            await db.executemany(
                "INSERT INTO executions(id, decision_id, alert_id, rule, target, actions, dry_run, status,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                executions,
            )
        if approvals:
            await db.executemany(
                "INSERT INTO approvals(id, decision_id, alert_id, rule, target, status, created_at,"
                " expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [a[:8] for a in approvals],
            )
            await self._insert_timers(
                db,
                approval_timers(
                    [a[0] for a in approvals],
                    now=now,
                    expiry_s=self._approval_expiry_s,
                    remind_before_s=self._approval_remind_before_s,
                ),
                now,
            )
        decision_ids = tuple(DecisionId(first + i) for i in range(len(decisions)))
        await self._insert_deferrals(
            db, [(did, aid, d) for did, (aid, d) in zip(decision_ids, decisions, strict=True)], now
        )
        return decision_ids, execution_ids

    async def _approval_pending(
        self, db: aiosqlite.Connection, d: Decision, batch: list[tuple[Any, ...]], now: float
    ) -> bool:
        """A pending approval exists for this decision's alert episode, rule and target (in the
        journal, or earlier in this batch): a re-sent alert must not ask a human twice."""
        assert d.target is not None
        episode = (d.rule, d.target.key, d.alert.fingerprint, d.alert.starts_at.timestamp())
        if any((a[3], a[4], a[8], a[9]) == episode for a in batch):
            return True
        rows = await db.execute_fetchall(
            "SELECT 1 FROM approvals a JOIN alerts al ON al.id = a.alert_id WHERE a.status = 'pending'"
            " AND a.expires_at > ? AND a.rule = ? AND a.target = ? AND al.fingerprint = ?"
            " AND al.starts_at = ? LIMIT 1",
            (now, *episode),
        )
        return bool(list(rows))

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        now = self._clock.now().timestamp()

        async def job(db: aiosqlite.Connection) -> list[tuple[DecisionId, ExecutionId | None]]:
            ids, executions = await self._insert_decisions(db, decisions, now)
            return [(did, executions.get(i)) for i, did in enumerate(ids)]

        return await self._submit(job)

    async def start_execution(self, execution_id: ExecutionId) -> bool:
        now = self._clock.now().timestamp()

        async def job(db: aiosqlite.Connection) -> bool:
            cur = await db.execute(
                "UPDATE executions SET status = ?, started_at = ? WHERE id = ? AND status = ?",
                (ExecutionStatus.RUNNING.value, now, execution_id, ExecutionStatus.PENDING.value),
            )
            return bool(cur.rowcount)

        return await self._submit(job)

    async def finish_execution(self, execution_id: ExecutionId, update: ExecutionUpdate) -> None:
        now = self._clock.now().timestamp()
        changes = json.dumps(
            [{"path": c.path, "before": c.before, "after": c.after} for c in update.changes], default=str
        )

        async def job(db: aiosqlite.Connection) -> None:
            await db.execute(
                "UPDATE executions SET status = ?, attempts = ?, error = ?, changes = ?, summary = ?,"
                " finished_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ?",
                (
                    update.status.value,
                    update.attempts,
                    update.error,
                    changes,
                    update.summary,
                    now,
                    now,
                    execution_id,
                ),
            )

        await self._submit(job)

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
        row = (
            self._clock.now().timestamp(),
            fingerprint,
            starts_at.timestamp(),
            execution_id,
            target,
            moment,
            json.dumps(body, default=str),
        )

        async def job(db: aiosqlite.Connection) -> None:
            await db.execute(
                "INSERT INTO evidence(at, fingerprint, starts_at, execution_id, target, moment, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._submit(job)

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        now = self._clock.now().timestamp()

        async def job(db: aiosqlite.Connection) -> list[InterruptedExecution]:
            rows = await db.execute_fetchall(
                "SELECT id, decision_id, alert_id, rule, target, started_at FROM executions"
                " WHERE status IN (?, ?) ORDER BY id",
                _UNFINISHED,
            )
            await db.execute(
                "UPDATE executions SET status = ?, finished_at = ?,"
                " error = 'interrupted: the daemon stopped while this execution was '"
                " || CASE WHEN started_at IS NULL THEN 'queued' ELSE 'running' END"
                " WHERE status IN (?, ?)",
                (ExecutionStatus.INTERRUPTED.value, now, *_UNFINISHED),
            )
            return [
                InterruptedExecution(
                    execution_id=ExecutionId(r[0]),
                    decision_id=DecisionId(r[1]),
                    alert_id=AlertId(r[2]) if r[2] is not None else None,
                    rule=r[3],
                    target=r[4],
                    started=r[5] is not None,
                )
                for r in rows
            ]

        return await self._submit(job)

    # -- queries -----------------------------------------------------------------------------------

    async def recent_acts(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        # A queued execution that never started changed nothing, so it does not hold a cooldown.
        rows = await self._r.execute_fetchall(
            "SELECT e.rule, e.target, e.dry_run, d.decided_at FROM executions e"
            " JOIN decisions d ON d.id = e.decision_id"
            " WHERE d.decided_at >= ? AND NOT (e.status = ? AND e.started_at IS NULL) ORDER BY d.decided_at",
            (since.timestamp(), ExecutionStatus.INTERRUPTED.value),
        )
        return [(r[0], r[1], bool(r[2]), datetime.fromtimestamp(r[3], UTC)) for r in rows]

    async def get_alert(self, alert_id: AlertId) -> Alert | None:
        rows = list(
            await self._r.execute_fetchall(
                "SELECT payload_id, source, fingerprint, status, starts_at, ends_at, labels, annotations,"
                " generator_url FROM alerts WHERE id = ?",
                (alert_id,),
            )
        )
        if not rows:
            return None
        r = rows[0]
        return Alert(
            payload_id=PayloadId(r[0]) if r[0] is not None else None,
            source=r[1],
            fingerprint=r[2],
            status=r[3],
            starts_at=datetime.fromtimestamp(r[4], UTC),
            ends_at=_dt(r[5]),
            labels=json.loads(r[6]),
            annotations=json.loads(r[7]),
            generator_url=r[8],
        )

    async def execution_outcomes(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        """(rule, target, succeeded, finished_at) of real executions that ended either way, oldest first:
        the circuit breaker's history."""
        rows = await self._r.execute_fetchall(
            "SELECT rule, target, status, finished_at FROM executions"
            " WHERE dry_run = 0 AND status IN (?, ?) AND finished_at >= ? ORDER BY finished_at, id",
            (ExecutionStatus.SUCCEEDED.value, ExecutionStatus.FAILED.value, since.timestamp()),
        )
        return [
            (r[0], r[1], r[2] == ExecutionStatus.SUCCEEDED.value, datetime.fromtimestamp(r[3], UTC))
            for r in rows
        ]


class _Scope:
    """A decision scope on the single-writer journal: the journal's own calls, nothing to catch up on."""

    def __init__(self, journal: SqliteJournal) -> None:
        self._j = journal
        self.feed = GuardFeed()

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        return await self._j.pending_payloads(limit)

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        return await self._j.record_batch(payload_ids=payload_ids, alerts=alerts, decisions=decisions)

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        return await self._j.record_decisions(decisions)

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        return await self._j.interrupt_unfinished()

    async def get_alert(self, alert_id: AlertId) -> Alert | None:
        return await self._j.get_alert(alert_id)

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> tuple[DecisionId, ExecutionId | None] | None:
        return await self._j.settle_deferral(deferral_id, worker=worker, decision=decision, alert_id=alert_id)
