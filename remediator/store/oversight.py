"""The journal's oversight records: approvals waiting for a human, escalations, the audit trail.

What humans read and answer, kept apart from the pipeline's hot path (payloads, alerts, decisions,
executions) in `sqlite.py`. Part of `SqliteJournal`: it writes through the same single writer
(`_submit`), so these records share its transactions and ordering. Implements `OversightJournal`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from remediator.store.sqlite_writer import SqliteWriter


class OversightRecords(SqliteWriter):
    async def approvals(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        await self.expire_approvals()
        return await self._select_approvals(status=status, limit=limit)

    async def get_approval(self, approval_id: int) -> dict[str, Any] | None:
        await self.expire_approvals()
        rows = await self._select_approvals(approval_id=approval_id, limit=1)
        return rows[0] if rows else None

    async def _select_approvals(
        self, *, status: str | None = None, approval_id: int | None = None, limit: int
    ) -> list[dict[str, Any]]:
        sql = (
            "SELECT a.id, a.decision_id, a.alert_id, a.rule, a.target, a.status, a.created_at, a.expires_at,"
            " a.decided_by, a.decided_at, a.note, d.reason, d.actions FROM approvals a"
            " JOIN decisions d ON d.id = a.decision_id"
        )
        where, args = [], []
        for column, value in (("a.status", status), ("a.id", approval_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._r.execute_fetchall(sql + " ORDER BY a.id DESC LIMIT ?", (*args, limit))
        keys = (
            "id",
            "decision_id",
            "alert_id",
            "rule",
            "target",
            "status",
            "created_at",
            "expires_at",
            "decided_by",
            "decided_at",
            "note",
            "reason",
            "actions",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def decide_approval(self, approval_id: int, *, status: str, by: str, note: str) -> bool:
        """pending -> approved/rejected, once. False if it was not pending (already decided or expired)."""
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, note = ?"
                " WHERE id = ? AND status = 'pending' AND expires_at > ?",
                (status, by, now, note, approval_id, now),
            )
            return bool(cur.rowcount)

        return await self._submit(job)

    async def expire_approvals(self) -> int:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE approvals SET status = 'expired', decided_at = ?"
                " WHERE status = 'pending' AND expires_at <= ?",
                (now, now),
            )
            return int(cur.rowcount)

        return await self._submit(job)

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
    ) -> None:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO escalations(id, at, rule, target, dest, kind, dedup_key, status, attempts,"
                " error,"
                " execution_id, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._take_ids("escalations", 1),
                    now,
                    rule,
                    target,
                    dest,
                    kind,
                    dedup_key,
                    status,
                    attempts,
                    error,
                    execution_id,
                    summary,
                ),
            )

        await self._submit(job)

    async def record_audit(self, *, actor: str, action: str, detail: dict[str, Any]) -> int:
        now = self._clock.now().timestamp()
        detail_json = json.dumps(detail, default=str)  # here: the caller's dict is not the job's

        def job(db: sqlite3.Connection) -> int:
            aid = self._take_ids("audit", 1)
            db.execute(
                "INSERT INTO audit(id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
                (aid, now, actor, action, detail_json),
            )
            return aid

        return await self._submit(job)
