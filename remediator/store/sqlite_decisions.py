"""The pipeline's records in the SQLite journal: a processed batch (alerts, decisions, payloads
marked processed) and what each decision makes (an execution, a pending approval with its timers,
a deferral), each in one transaction through the single writer. A base of `SqliteJournal`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from remediator.model import (
    Alert,
    AlertId,
    Decision,
    DecisionId,
    ExecutionId,
    ExecutionStatus,
    Outcome,
    PayloadId,
)
from remediator.store.alert_rows import ALERT_COLUMNS, alert_row
from remediator.store.records import RecordedBatch
from remediator.store.scheduling import approval_timers
from remediator.store.sqlite_scheduling import SchedulingRecords


class DecisionRecords(SchedulingRecords):
    """Recording decisions, the alerts they were made for, and the payloads they processed."""

    _approval_expiry_s: float
    _approval_remind_before_s: float

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        now = self._clock.now().timestamp()
        payload_ids, decisions = tuple(payload_ids), tuple(decisions)  # the job's own (see sqlite_writer.py)
        # The rows are made here, on the loop: the job runs while the writer holds the write lock.
        alert_rows = [alert_row(a) for a in alerts]

        def job(db: sqlite3.Connection) -> RecordedBatch:
            first_alert = self._take_ids("alerts", len(alert_rows))
            db.executemany(
                f"INSERT INTO alerts(id, {ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(first_alert + i, *row) for i, row in enumerate(alert_rows)],
            )
            alert_ids = tuple(AlertId(first_alert + i) for i in range(len(alert_rows)))
            decision_ids, execution_ids = self._insert_decisions(
                db, [(alert_ids[i], d) for i, d in decisions], now
            )
            db.executemany(
                "UPDATE payloads SET processed_at = ? WHERE id = ?", [(now, pid) for pid in payload_ids]
            )
            return RecordedBatch(alert_ids=alert_ids, decision_ids=decision_ids, execution_ids=execution_ids)

        def processed() -> None:
            self._backlog -= len(payload_ids)

        return await self._submit(job, after_commit=processed)

    def _insert_decisions(
        self, db: sqlite3.Connection, decisions: Sequence[tuple[AlertId | None, Decision]], now: float
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
                if self._approval_pending(db, d, approvals, now):
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
        db.executemany(
            "INSERT INTO decisions(id, alert_id, rule, target, actions, outcome, reason, dry_run, decided_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if executions:
            db.executemany(
                "INSERT INTO executions(id, decision_id, alert_id, rule, target, actions, dry_run, status,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                executions,
            )
        if approvals:
            db.executemany(
                "INSERT INTO approvals(id, decision_id, alert_id, rule, target, status, created_at,"
                " expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [a[:8] for a in approvals],
            )
            self._insert_timers(
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
        self._insert_deferrals(
            db, [(did, aid, d) for did, (aid, d) in zip(decision_ids, decisions, strict=True)], now
        )
        return decision_ids, execution_ids

    def _approval_pending(
        self, db: sqlite3.Connection, d: Decision, batch: list[tuple[Any, ...]], now: float
    ) -> bool:
        """A pending approval exists for this decision's alert episode, rule and target (in the
        journal, or earlier in this batch): a re-sent alert must not ask a human twice."""
        assert d.target is not None
        episode = (d.rule, d.target.key, d.alert.fingerprint, d.alert.starts_at.timestamp())
        if any((a[3], a[4], a[8], a[9]) == episode for a in batch):
            return True
        rows = db.execute(
            "SELECT 1 FROM approvals a JOIN alerts al ON al.id = a.alert_id WHERE a.status = 'pending'"
            " AND a.expires_at > ? AND a.rule = ? AND a.target = ? AND al.fingerprint = ?"
            " AND al.starts_at = ? LIMIT 1",
            (now, *episode),
        ).fetchall()
        return bool(list(rows))

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        now = self._clock.now().timestamp()
        decisions = tuple(decisions)  # the job's own (see sqlite_writer.py)

        def job(db: sqlite3.Connection) -> list[tuple[DecisionId, ExecutionId | None]]:
            ids, executions = self._insert_decisions(db, decisions, now)
            return [(did, executions.get(i)) for i, did in enumerate(ids)]

        return await self._submit(job)
