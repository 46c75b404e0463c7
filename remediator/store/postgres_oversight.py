"""The shared journal's oversight records: approvals waiting for a human, escalations, the audit trail.

The PostgreSQL twin of `oversight.py`, a mixin of `PostgresJournal`. Each write is its own short
transaction; deciding an approval is one conditional UPDATE, so when two replicas' APIs approve the
same action at once exactly one of them wins.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from remediator.clock import Clock

_APPROVAL_KEYS = (
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
_ESCALATION_KEYS = (
    "id",
    "at",
    "rule",
    "target",
    "dest",
    "kind",
    "dedup_key",
    "status",
    "attempts",
    "error",
    "execution_id",
    "summary",
)


class PostgresOversight:
    _pool: asyncpg.Pool
    _clock: Clock

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
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("a.status", status), ("a.id", approval_id)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        args.append(limit)
        rows = await self._pool.fetch(
            "SELECT a.id, a.decision_id, a.alert_id, a.rule, a.target, a.status, a.created_at, a.expires_at,"
            " a.decided_by, a.decided_at, a.note, d.reason, d.actions FROM approvals a"
            " JOIN decisions d ON d.id = a.decision_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY a.id DESC LIMIT ${len(args)}",
            *args,
        )
        return [dict(zip(_APPROVAL_KEYS, tuple(r), strict=True)) for r in rows]

    async def decide_approval(self, approval_id: int, *, status: str, by: str, note: str) -> bool:
        """pending -> approved/rejected, once. False if it was not pending (already decided or expired)."""
        now = self._clock.now().timestamp()
        done = await self._pool.execute(
            "UPDATE approvals SET status = $1, decided_by = $2, decided_at = $3, note = $4"
            " WHERE id = $5 AND status = 'pending' AND expires_at > $3",
            status,
            by,
            now,
            note,
            approval_id,
        )
        return bool(done != "UPDATE 0")

    async def expire_approvals(self) -> int:
        now = self._clock.now().timestamp()
        done = await self._pool.execute(
            "UPDATE approvals SET status = 'expired', decided_at = $1"
            " WHERE status = 'pending' AND expires_at <= $1",
            now,
        )
        return int(done.rsplit(" ", 1)[-1])

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
        await self._pool.execute(
            "INSERT INTO escalations(at, rule, target, dest, kind, dedup_key, status, attempts, error,"
            " execution_id, summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            self._clock.now().timestamp(),
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
        )

    async def escalations(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT id, at, rule, target, dest, kind, dedup_key, status, attempts, error, execution_id,"
            " summary FROM escalations ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [dict(zip(_ESCALATION_KEYS, tuple(r), strict=True)) for r in rows]

    async def record_audit(self, *, actor: str, action: str, detail: dict[str, Any]) -> int:
        aid = await self._pool.fetchval(
            "INSERT INTO audit(at, actor, action, detail) VALUES ($1, $2, $3, $4) RETURNING id",
            self._clock.now().timestamp(),
            actor,
            action,
            json.dumps(detail, default=str),
        )
        return int(aid)

    async def audit(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT id, at, actor, action, detail FROM audit ORDER BY id DESC LIMIT $1", limit
        )
        return [
            {
                "id": r[0],
                "at": datetime.fromtimestamp(r[1], UTC).isoformat(),
                "actor": r[2],
                "action": r[3],
                "detail": json.loads(r[4]),
            }
            for r in rows
        ]
