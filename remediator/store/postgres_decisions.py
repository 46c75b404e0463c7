"""Writing decisions inside a decision transaction: the decisions, their executions, approvals
(with their timers) and deferrals, with ids taken from the sequences in one round trip.

Used by the decision scope (postgres_scope.py); a mixin of `PostgresJournal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from remediator.model import AlertId, Decision, DecisionId, ExecutionId, Outcome
from remediator.store.postgres_scheduling import PostgresSchedulingRecords
from remediator.store.scheduling import approval_timers


async def take_ids(conn: asyncpg.Connection, **counts: int) -> list[list[int]]:
    """Ids from each table's sequence, in one round trip: rows that reference each other are then
    inserted with one `executemany` per table."""
    wanted = [(table, n) for table, n in counts.items() if n]
    if not wanted:
        return [[] for _ in counts]
    sql = ", ".join(
        f"ARRAY(SELECT nextval('{table}_id_seq') FROM generate_series(1, {n}))" for table, n in wanted
    )
    row = await conn.fetchrow(f"SELECT {sql}")
    got = {table: list(row[i]) for i, (table, _) in enumerate(wanted)}
    return [got.get(table, []) for table in counts]


class PostgresDecisionRecords(PostgresSchedulingRecords):
    """Decisions and what each one makes: an execution, a pending approval, a deferral."""

    replica: str
    _approval_expiry_s: float
    _approval_remind_before_s: float

    async def _insert_decisions_on(
        self, conn: asyncpg.Connection, decisions: Sequence[tuple[AlertId | None, Decision]], now: float
    ) -> tuple[tuple[DecisionId, ...], dict[int, ExecutionId]]:
        """The decisions, an execution per acting one (owned by this replica), a pending approval per
        alert episode that needs one (with its timers), and a deferral per deferred one. Execution ids
        are taken here, under the decision lock, so they grow in commit order (see `_feed`)."""
        acting = sum(1 for _, d in decisions if d.acts and d.target is not None)
        decision_ids, execution_ids = await take_ids(conn, decisions=len(decisions), executions=acting)
        rows: list[tuple[Any, ...]] = []
        executions: list[tuple[Any, ...]] = []
        made: dict[int, ExecutionId] = {}
        asking: list[tuple[int, Decision, AlertId | None, str]] = []
        next_execution = iter(execution_ids)
        for i, ((alert_id, d), did) in enumerate(zip(decisions, decision_ids, strict=True)):
            actions = "+".join(a.kind for a in d.actions)
            target = d.target.key if d.target else None
            rows.append(
                (
                    did,
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
            if d.acts and target is not None:
                eid = next(next_execution)
                made[i] = ExecutionId(eid)
                executions.append(
                    (
                        eid,
                        did,
                        alert_id,
                        d.rule,
                        target,
                        actions,
                        int(d.dry_run),
                        "pending",
                        now,
                        self.replica,
                    )
                )
            elif d.outcome is Outcome.NEEDS_APPROVAL and target is not None:
                asking.append((did, d, alert_id, target))
        if rows:
            await conn.executemany(
                "INSERT INTO decisions(id, alert_id, rule, target, actions, outcome, reason, dry_run,"
                " decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                rows,
            )
        if executions:
            await conn.executemany(
                "INSERT INTO executions(id, decision_id, alert_id, rule, target, actions, dry_run, status,"
                " created_at, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                executions,
            )
        await self._insert_approvals(conn, asking, now)
        ids = tuple(DecisionId(d) for d in decision_ids)
        await self._insert_deferrals(
            conn, [(did, aid, d) for did, (aid, d) in zip(ids, decisions, strict=True)], now
        )
        return ids, made

    async def _insert_approvals(
        self, conn: asyncpg.Connection, asking: list[tuple[int, Decision, AlertId | None, str]], now: float
    ) -> None:
        """One pending approval per alert episode, rule and target: a re-sent alert (to any replica)
        must not ask a human twice."""
        created: list[int] = []
        episodes: set[tuple[str, str, str, float]] = set()
        for did, d, alert_id, target in asking:
            episode = (d.rule, target, d.alert.fingerprint, d.alert.starts_at.timestamp())
            if episode in episodes:
                continue
            episodes.add(episode)
            pending = await conn.fetchval(
                "SELECT 1 FROM approvals a JOIN alerts al ON al.id = a.alert_id WHERE a.status = 'pending'"
                " AND a.expires_at > $1 AND a.rule = $2 AND a.target = $3 AND al.fingerprint = $4"
                " AND al.starts_at = $5 LIMIT 1",
                now,
                *episode,
            )
            if pending:
                continue
            created.append(
                await conn.fetchval(
                    "INSERT INTO approvals(decision_id, alert_id, rule, target, status, created_at,"
                    " expires_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING id",
                    did,
                    alert_id,
                    d.rule,
                    target,
                    now,
                    now + self._approval_expiry_s,
                )
            )
        if created:
            timers = approval_timers(
                created,
                now=now,
                expiry_s=self._approval_expiry_s,
                remind_before_s=self._approval_remind_before_s,
            )
            await self._insert_timers(conn, timers, now)
