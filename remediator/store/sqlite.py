"""The embedded journal: SQLite in WAL mode. Implements `store.Journal`.

One writer task owns every write, in group commits, each run in one call to the writer's own thread
(sqlite_writer.py). A second, read-only connection (aiosqlite) serves reads: WAL lets them run while
the writer commits. This module holds opening
and migrating the file, the id counters, repeated deliveries and the decision scope; the classes it
builds on hold the rest, one job each: decisions and processed batches (sqlite_decisions.py),
executions and evidence (sqlite_executions.py), the guards' history (sqlite_reads.py), oversight
records (oversight.py), the read model (queries.py, incident_queries.py), timers and deferrals
(sqlite_scheduling.py), human controls and delivery ids (sqlite_controls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    PayloadId,
    Source,
)
from remediator.store import sqlite_controls, sqlite_incidents, sqlite_scheduling, sqlite_schema
from remediator.store.incident_queries import IncidentQueries
from remediator.store.oversight import OversightRecords
from remediator.store.records import (
    GuardFeed,
    InterruptedExecution,
    RecordedBatch,
    StoredPayload,
)
from remediator.store.sqlite_decisions import DecisionRecords
from remediator.store.sqlite_executions import ExecutionRecords
from remediator.store.sqlite_reads import SqliteReads
from remediator.store.sqlite_revisions import OwnRevisionRecords
from remediator.store.sqlite_sessions import ConsoleSessionRecords
from remediator.store.sqlite_writer import close_writer, connect_writer, set_pragmas

log = get_logger("remediator.store")


_TABLES = (
    "alerts",
    "decisions",
    "executions",
    "audit",
    "approvals",
    "escalations",
    "timers",
    "deferrals",
)


class SqliteJournal(
    OversightRecords,
    IncidentQueries,
    sqlite_incidents.IncidentRecords,
    DecisionRecords,
    ExecutionRecords,
    SqliteReads,
    sqlite_scheduling.SchedulingRecords,
    sqlite_controls.ControlRecords,
    OwnRevisionRecords,
    ConsoleSessionRecords,
):
    """The embedded journal: SQLite in WAL mode, one writer task, a read-only second connection."""

    def __init__(
        self,
        writer: sqlite3.Connection,
        reader: aiosqlite.Connection,
        *,
        thread: ThreadPoolExecutor,
        max_pending: int,
        max_backlog: int,
        clock: Clock,
        approval_expiry_s: float = 3600.0,
        approval_remind_before_s: float = 900.0,
        max_deferred: int = 1000,
    ) -> None:
        super().__init__(
            writer, reader, thread=thread, max_pending=max_pending, max_backlog=max_backlog, clock=clock
        )
        self._approval_expiry_s = approval_expiry_s
        self._approval_remind_before_s = approval_remind_before_s
        self._max_deferred = max_deferred
        self._deferred_waiting = 0
        self._decide_lock = asyncio.Lock()

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
        writer, thread = await connect_writer(str(path))
        now = clock.now().timestamp()

        def prepare(db: sqlite3.Connection) -> list[int]:
            set_pragmas(db, synchronous=synchronous, busy_timeout_ms=5000)
            return sqlite_schema.migrate(db, where=str(path), now=now)

        try:
            applied = await asyncio.get_running_loop().run_in_executor(thread, prepare, writer)
            if applied:
                log.info("journal schema migrated", journal=str(path), versions=applied)
            reader = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        except BaseException:
            await close_writer(writer, thread)
            raise
        journal = cls(
            writer,
            reader,
            thread=thread,
            max_pending=max_pending,
            max_backlog=max_backlog,
            clock=clock,
            approval_expiry_s=approval_expiry_s,
            approval_remind_before_s=approval_remind_before_s,
            max_deferred=max_deferred,
        )
        async with journal._serving(load=journal._load_counters, name="journal-writer"):
            yield journal

    async def _load_counters(self) -> None:
        for table in _TABLES:
            rows = await self._r.execute_fetchall(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            self._next[table] = int(next(iter(rows))[0]) + 1
        self._deferred_waiting = await self._count_deferred_waiting()
        await self._load_backlog()

    def _save_counters(self) -> Any:
        return super()._save_counters(), self._deferred_waiting

    def _restore_counters(self, saved: Any) -> None:
        ids, self._deferred_waiting = saved
        super()._restore_counters(ids)

    # -- deciding ----------------------------------------------------------------------------------

    takeover_every_s: float | None = None
    """One process writes this file: what a crash left unfinished is taken over at start-up only."""

    @contextlib.asynccontextmanager
    async def deciding(self) -> AsyncIterator[_Scope]:
        """One writer: the guards' memory is the whole truth (an empty feed), and each record call is
        its own transaction through the single writer.

        Turns take turns, as on PostgreSQL: a guard may wait on the cluster between the cooldown check
        and the record, and a turn deciding meanwhile (the deferral sweep, a manual trigger) would pass
        the same checks and act on the same target a second time."""
        async with self._decide_lock:
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
