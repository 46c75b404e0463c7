"""Executions on the shared journal: started only if still pending and owned by this replica, every
write fenced by a lease renewal (`still_running`), finished in commit order unless taken over, and
the evidence taken around them. A mixin of `PostgresJournal`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from remediator.clock import Clock
from remediator.model import ExecutionId
from remediator.store.postgres_deciding import DECISION_LOCK
from remediator.store.records import ExecutionUpdate


class PostgresExecutions:
    """An execution's start and end, and its evidence."""

    _pool: asyncpg.Pool
    _clock: Clock
    _lease_s: float
    replica: str

    async def start_execution(self, execution_id: ExecutionId) -> bool:
        done = await self._pool.execute(
            "UPDATE executions SET status = 'running', started_at = $2"
            " WHERE id = $1 AND status = 'pending' AND owner = $3",
            execution_id,
            self._clock.now().timestamp(),
            self.replica,
        )
        return bool(done != "UPDATE 0")

    @property
    def write_lease_s(self) -> float | None:
        return self._lease_s

    async def still_running(self, execution_id: ExecutionId) -> bool:
        """Renew this replica's lease and say whether the execution is still its own and running, in
        one statement. A take-over deletes the lease row in the transaction that interrupts the
        executions, so the renewal either comes first (and no one takes the execution over for a
        whole lease from when it was asked: a write that ends within it is covered, see actions/lease_fence)
        or finds no row (taken over: do not write)."""
        held = await self._pool.fetchval(
            "WITH renewed AS (UPDATE replicas SET lease_until = clock_timestamp()"
            " + make_interval(secs => $3) WHERE id = $2 RETURNING id)"
            " SELECT count(*) FROM executions e JOIN renewed r ON e.owner = r.id"
            " WHERE e.id = $1 AND e.status = 'running'",
            execution_id,
            self.replica,
            self._lease_s,
        )
        return bool(held)

    async def finish_execution(self, execution_id: ExecutionId, update: ExecutionUpdate) -> bool:
        now = self._clock.now().timestamp()
        changes = update.changes_json()
        async with self._pool.acquire() as conn, conn.transaction():
            # Shared with other endings, exclusive with deciding: `finish_seq` is in commit order.
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", DECISION_LOCK)
            done = await conn.execute(
                "UPDATE executions SET status = $2, attempts = $3, error = $4, changes = $5, summary = $6,"
                " finished_at = $7, started_at = COALESCE(started_at, $7),"
                " finish_seq = nextval('execution_finish_seq')"
                " WHERE id = $1 AND owner = $8 AND status IN ('pending', 'running')",
                execution_id,
                update.status.value,
                update.attempts,
                update.error,
                changes,
                update.summary,
                now,
                self.replica,
            )
        # "UPDATE 0": another replica took it over (this one's lease had lapsed) and decided it again;
        # its record as interrupted stands, and the runner says what this replica did.
        return bool(done != "UPDATE 0")

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
        await self._pool.execute(
            "INSERT INTO evidence(at, fingerprint, starts_at, execution_id, target, moment, body)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self._clock.now().timestamp(),
            fingerprint,
            starts_at.timestamp(),
            execution_id,
            target,
            moment,
            json.dumps(body, default=str),
        )
