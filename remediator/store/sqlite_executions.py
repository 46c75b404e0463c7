"""Executions in the SQLite journal: started only if still pending, finished, the evidence taken
around them, and interrupted at start-up when a crash left them unfinished. A base of `SqliteJournal`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from remediator.model import AlertId, DecisionId, ExecutionId, ExecutionStatus
from remediator.store.records import ExecutionUpdate, InterruptedExecution
from remediator.store.sqlite_rows import RowBatch
from remediator.store.sqlite_writer import SqliteWriter

_UNFINISHED = (ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value)
_FINISH = (
    "UPDATE executions SET status = ?, attempts = ?, error = ?, changes = ?, summary = ?,"
    " finished_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ? AND status IN (?, ?)"
)


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class ExecutionRecords(SqliteWriter):
    """An execution's start and end, its evidence, and the ones a crash left unfinished."""

    async def start_execution(self, execution_id: ExecutionId) -> bool:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE executions SET status = ?, started_at = ? WHERE id = ? AND status = ?",
                (ExecutionStatus.RUNNING.value, now, execution_id, ExecutionStatus.PENDING.value),
            )
            return bool(cur.rowcount)

        return await self._submit(job)

    @property
    def write_lease_s(self) -> float | None:
        """One daemon on its own file: nobody takes its executions over while it runs."""
        return None

    async def still_running(self, execution_id: ExecutionId) -> bool:
        rows = list(
            await self._r.execute_fetchall("SELECT status FROM executions WHERE id = ?", (execution_id,))
        )
        return bool(rows) and rows[0][0] == ExecutionStatus.RUNNING.value

    _finishing: RowBatch | None = None

    async def finish_execution(self, execution_id: ExecutionId, update: ExecutionUpdate) -> bool:
        now = self._clock.now().timestamp()
        if self._finishing is None:
            self._finishing = RowBatch(_FINISH, self._submit, keyed=True)
        # A storm's executions finish together: their rows share a job (see sqlite_rows.py).
        written = await self._finishing.write(
            (
                update.status.value,
                update.attempts,
                update.error,
                update.changes_json(),
                update.summary,
                now,
                now,
                execution_id,
                *_UNFINISHED,
            )
        )
        return written == 1

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

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO evidence(at, fingerprint, starts_at, execution_id, target, moment, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._submit(job)

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> list[InterruptedExecution]:
            rows = db.execute(
                "SELECT e.id, e.decision_id, e.alert_id, e.rule, e.target, e.started_at, e.dry_run,"
                " d.decided_at, a.fingerprint, a.starts_at FROM executions e"
                " JOIN decisions d ON d.id = e.decision_id LEFT JOIN alerts a ON a.id = e.alert_id"
                " WHERE e.status IN (?, ?) ORDER BY e.id",
                _UNFINISHED,
            ).fetchall()
            db.execute(
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
                    dry_run=bool(r[6]),
                    decided_at=datetime.fromtimestamp(r[7], UTC),
                    fingerprint=r[8],
                    starts_at=_dt(r[9]),
                )
                for r in rows
            ]

        return await self._submit(job)
