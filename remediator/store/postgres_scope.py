"""One decision transaction on the shared journal, holding the decision lock (see postgres_deciding.py).

It claims payloads (`FOR UPDATE SKIP LOCKED`), writes alerts, decisions, executions and the
payloads marked processed, settles deferrals and interrupts the executions of replicas whose lease
expired, all before the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from remediator.model import Alert, AlertId, Decision, DecisionId, ExecutionId, PayloadId
from remediator.store.alert_rows import ALERT_COLUMNS, alert_row
from remediator.store.postgres_decisions import take_ids
from remediator.store.postgres_reads import fetch_alert, stored_payload
from remediator.store.records import (
    GuardFeed,
    InterruptedExecution,
    JournalUnavailable,
    RecordedBatch,
    StoredPayload,
)

if TYPE_CHECKING:
    from remediator.store.postgres_deciding import PostgresDeciding


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class PostgresScope:
    """One decision transaction on the shared journal (see `PostgresJournal.deciding`)."""

    def __init__(self, journal: PostgresDeciding, conn: asyncpg.Connection, feed: GuardFeed) -> None:
        self._j = journal
        self._conn = conn
        self.feed = feed
        self.processed = 0
        self.settled = 0
        self.finish_mark = 0
        """The last `finish_seq` this scope gave (executions it took over): none is fed back to it."""

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        rows = await self._conn.fetch(
            "SELECT id, source, received_at, body FROM payloads WHERE processed_at IS NULL"
            " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        self._j._claims_full = len(rows) >= limit
        return [stored_payload(r) for r in rows]

    async def get_alert(self, alert_id: AlertId) -> Alert | None:
        return await fetch_alert(self._conn, alert_id)

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> tuple[DecisionId, ExecutionId | None] | None:
        """Record the deferral's decision and close it, in this transaction; None if no longer ours."""
        now = self._j._clock.now().timestamp()
        mine = await self._conn.fetchval(
            "SELECT 1 FROM deferrals WHERE id = $1 AND status = 'waiting' AND claimed_by = $2 FOR UPDATE",
            deferral_id,
            worker,
        )
        if mine is None:
            return None
        ids, executions = await self._j._insert_decisions_on(self._conn, [(alert_id, decision)], now)
        await self._conn.execute(
            "UPDATE deferrals SET status = 'redecided', done_at = $1, decision = $2, result = $3,"
            " claimed_by = NULL, claimed_until = NULL WHERE id = $4",
            now,
            ids[0],
            f"{decision.outcome.value}: {decision.reason}"[:2000],
            deferral_id,
        )
        self.settled += 1
        return ids[0], executions.get(0)

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        now = self._j._clock.now().timestamp()
        [ids] = await take_ids(self._conn, alerts=len(alerts))
        alert_ids = tuple(AlertId(i) for i in ids)
        if alerts:
            await self._conn.executemany(
                f"INSERT INTO alerts(id, {ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [(aid, *alert_row(a)) for aid, a in zip(alert_ids, alerts, strict=True)],
            )
        decision_ids, execution_ids = await self._j._insert_decisions_on(
            self._conn, [(alert_ids[i], d) for i, d in decisions], now
        )
        if payload_ids:
            done = await self._conn.execute(
                "UPDATE payloads SET processed_at = $1 WHERE id = ANY($2::bigint[]) AND processed_at IS NULL",
                now,
                list(payload_ids),
            )
            if done != f"UPDATE {len(payload_ids)}":
                # Claimed under this transaction's row locks, so this cannot happen; if it does, write
                # nothing rather than decide a payload twice.
                raise JournalUnavailable(f"payloads {list(payload_ids)} were not all pending ({done})")
            self.processed += len(payload_ids)
        return RecordedBatch(alert_ids=alert_ids, decision_ids=decision_ids, execution_ids=execution_ids)

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        now = self._j._clock.now().timestamp()
        decision_ids, executions = await self._j._insert_decisions_on(self._conn, decisions, now)
        return [(did, executions.get(i)) for i, did in enumerate(decision_ids)]

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        """Executions of replicas whose lease has expired (a crash, a lost node, a clean stop).

        Never this replica's own: it is alive, since it is asking. The expired leases are deleted
        first, in this transaction: a renewal racing it (the heartbeat, `still_running` before a
        write) either commits first, and then the lease is not expired and nothing of it is taken,
        or waits and finds no row, and then its replica knows and applies nothing more.
        """
        now = self._j._clock.now().timestamp()
        me = self._j.replica
        await self._conn.execute(
            "DELETE FROM replicas WHERE lease_until < clock_timestamp() AND id <> $1", me
        )
        rows = await self._conn.fetch(
            "UPDATE executions e SET status = 'interrupted', finished_at = $1,"
            " finish_seq = nextval('execution_finish_seq'),"
            " error = 'interrupted: replica ' || e.owner || ' stopped while this execution was '"
            " || CASE WHEN e.started_at IS NULL THEN 'queued' ELSE 'running' END"
            " WHERE e.status IN ('pending', 'running') AND e.owner <> $2"
            " AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = e.owner)"
            " RETURNING e.id, e.decision_id, e.alert_id, e.rule, e.target, e.started_at, e.owner, e.dry_run,"
            " (SELECT d.decided_at FROM decisions d WHERE d.id = e.decision_id),"
            " (SELECT a.fingerprint FROM alerts a WHERE a.id = e.alert_id),"
            " (SELECT a.starts_at FROM alerts a WHERE a.id = e.alert_id), e.finish_seq",
            now,
            me,
        )
        self.finish_mark = max([self.finish_mark, *(int(r[11]) for r in rows)])
        return [
            InterruptedExecution(
                execution_id=ExecutionId(r[0]),
                decision_id=DecisionId(r[1]),
                alert_id=AlertId(r[2]) if r[2] is not None else None,
                rule=r[3],
                target=r[4],
                started=r[5] is not None,
                dry_run=bool(r[7]),
                decided_at=datetime.fromtimestamp(r[8], UTC),
                fingerprint=r[9],
                starts_at=_dt(r[10]),
            )
            for r in sorted(rows, key=lambda r: int(r[0]))
        ]
