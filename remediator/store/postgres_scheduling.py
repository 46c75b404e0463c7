"""Timers and deferred decisions in PostgreSQL: a mixin of `PostgresJournal` (see `scheduling.py`).

The PostgreSQL twin of `sqlite_scheduling.py`. Several replicas claim from the same tables, so a
claim is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`: two replicas
claiming at once get disjoint rows, neither waits for the other, and a claim is a lease in the
injected clock's time, taken over once it has ended. Deferral rows and approval timers are written
by `_insert_decisions_on` in the decision's own transaction, and a deferral is settled in one
(`postgres.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from remediator.clock import Clock
from remediator.model import AlertId, Decision, DecisionId, Outcome
from remediator.severity import rank
from remediator.store.scheduling import Deferral, DeferralStatus, NewTimer, Timer, new_waits

_TIMER_COLUMNS = (
    "id, kind, key, due_at, payload, created_at, attempts, claimed_by, claimed_until, done_at, result"
)
_DEFERRAL_COLUMNS = (
    "id, decision_id, alert_id, rule, target, fingerprint, starts_at, severity, reason, skip_guards,"
    " created_at, attempts, status, last_at, done_at, result, decision"
)


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _timer(r: asyncpg.Record) -> Timer:
    return Timer(
        id=r[0],
        kind=r[1],
        key=r[2],
        due_at=datetime.fromtimestamp(r[3], UTC),
        payload=json.loads(r[4]),
        created_at=datetime.fromtimestamp(r[5], UTC),
        attempts=r[6],
        claimed_by=r[7],
        claimed_until=_dt(r[8]),
        done_at=_dt(r[9]),
        result=r[10],
    )


def _deferral(r: asyncpg.Record) -> Deferral:
    return Deferral(
        id=r[0],
        decision_id=DecisionId(r[1]),
        alert_id=AlertId(r[2]) if r[2] is not None else None,
        rule=r[3],
        target=r[4],
        fingerprint=r[5],
        starts_at=datetime.fromtimestamp(r[6], UTC),
        severity=r[7],
        reason=r[8],
        skip_guards=tuple(json.loads(r[9])),
        created_at=datetime.fromtimestamp(r[10], UTC),
        attempts=r[11],
        status=cast(DeferralStatus, r[12]),
        last_at=_dt(r[13]),
        done_at=_dt(r[14]),
        result=r[15],
        decision=DecisionId(r[16]) if r[16] is not None else None,
    )


def _count(status: str) -> int:
    """Rows an UPDATE or DELETE touched, from its command status ("UPDATE 3")."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresSchedulingRecords:
    _pool: asyncpg.Pool
    _clock: Clock
    _max_deferred: int
    _deferred_waiting: int

    # -- timers ------------------------------------------------------------------------------------

    @staticmethod
    async def _insert_timers(conn: asyncpg.Connection, timers: Sequence[NewTimer], now: float) -> None:
        for t in timers:
            keep = "LEAST(timers.due_at, excluded.due_at)" if t.only_if_earlier else "excluded.due_at"
            await conn.execute(
                "INSERT INTO timers(kind, key, due_at, payload, created_at) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (kind, key) WHERE done_at IS NULL DO UPDATE SET"
                f" due_at = {keep}, payload = excluded.payload, claimed_by = NULL, claimed_until = NULL",
                t.kind,
                t.key,
                t.due_at.timestamp(),
                json.dumps(dict(t.payload)),
                now,
            )

    async def schedule(self, timers: Sequence[NewTimer]) -> None:
        if not timers:
            return
        now = self._clock.now().timestamp()
        async with self._pool.acquire() as conn, conn.transaction():
            await self._insert_timers(conn, timers, now)

    async def claim_timers(self, *, worker: str, lease_s: float, limit: int) -> list[Timer]:
        now = self._clock.now().timestamp()
        rows = await self._pool.fetch(
            "UPDATE timers SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1"
            " WHERE id IN (SELECT id FROM timers WHERE done_at IS NULL AND due_at <= $3"
            " AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY due_at, id LIMIT $4"
            f" FOR UPDATE SKIP LOCKED) RETURNING {_TIMER_COLUMNS}",
            worker,
            now + lease_s,
            now,
            limit,
        )
        return sorted((_timer(r) for r in rows), key=lambda t: (t.due_at, t.id))

    async def finish_timer(
        self, timer_id: int, *, worker: str, result: str, then: Sequence[NewTimer] = ()
    ) -> bool:
        now = self._clock.now().timestamp()
        async with self._pool.acquire() as conn, conn.transaction():
            done = await conn.execute(
                "UPDATE timers SET done_at = $1, result = $2, claimed_until = NULL"
                " WHERE id = $3 AND claimed_by = $4 AND done_at IS NULL",
                now,
                result[:2000],
                timer_id,
                worker,
            )
            if not _count(done):
                return False
            await self._insert_timers(conn, then, now)
            return True

    async def retry_timer(self, timer_id: int, *, worker: str, due_at: datetime, result: str) -> None:
        await self._pool.execute(
            "UPDATE timers SET due_at = $1, result = $2, claimed_by = NULL, claimed_until = NULL"
            " WHERE id = $3 AND claimed_by = $4 AND done_at IS NULL",
            due_at.timestamp(),
            result[:2000],
            timer_id,
            worker,
        )

    @staticmethod
    async def _cancel_timers(
        conn: asyncpg.Connection, keys: Sequence[tuple[str, str]], reason: str, now: float
    ) -> int:
        n = 0
        for kind, key in keys:
            done = await conn.execute(
                "UPDATE timers SET done_at = $1, result = $2, claimed_by = NULL, claimed_until = NULL"
                " WHERE kind = $3 AND key = $4 AND done_at IS NULL",
                now,
                f"cancelled: {reason}"[:2000],
                kind,
                key,
            )
            n += _count(done)
        return n

    async def cancel_timers(self, keys: Sequence[tuple[str, str]], *, reason: str) -> int:
        now = self._clock.now().timestamp()
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._cancel_timers(conn, keys, reason, now)

    async def next_timer_due(self) -> datetime | None:
        return _dt(await self._pool.fetchval("SELECT min(due_at) FROM timers WHERE done_at IS NULL"))

    async def timers(self, *, pending: bool = True, limit: int = 100) -> list[Timer]:
        if pending:
            sql = f"SELECT {_TIMER_COLUMNS} FROM timers WHERE done_at IS NULL ORDER BY due_at, id LIMIT $1"
        else:
            sql = f"SELECT {_TIMER_COLUMNS} FROM timers WHERE done_at IS NOT NULL ORDER BY id DESC LIMIT $1"
        return [_timer(r) for r in await self._pool.fetch(sql, limit)]

    # -- deferred decisions ------------------------------------------------------------------------

    async def _insert_deferrals(
        self,
        conn: asyncpg.Connection,
        rows: Sequence[tuple[DecisionId, AlertId | None, Decision]],
        now: float,
    ) -> int:
        """Deferral rows for deferred decisions, then shed past the bound (counted across every
        replica, in this transaction): the least severe, newest first. Returns how many were shed."""
        deferred = [d for _, _, d in rows if d.outcome is Outcome.DEFERRED and d.target]
        if not deferred:
            return 0
        open_waits = await conn.fetch(
            "SELECT fingerprint, starts_at, rule, target FROM deferrals"
            " WHERE status = 'waiting' AND fingerprint = ANY($1::text[])",
            sorted({d.alert.fingerprint for d in deferred}),
        )
        added = new_waits(rows, {(r[0], r[1], r[2], r[3]) for r in open_waits})
        if not added:
            return 0
        await conn.executemany(
            "INSERT INTO deferrals(decision_id, alert_id, rule, target, fingerprint, starts_at, severity,"
            " rank, reason, skip_guards, created_at, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'waiting')",
            [
                (
                    did,
                    aid,
                    d.rule,
                    d.target.key if d.target else "",
                    d.alert.fingerprint,
                    d.alert.starts_at.timestamp(),
                    d.severity,
                    rank(d.severity),
                    d.reason,
                    json.dumps(sorted(d.skipped_guards)),
                    now,
                )
                for did, aid, d in added
            ],
        )
        waiting = int(await conn.fetchval("SELECT count(*) FROM deferrals WHERE status = 'waiting'"))
        shed = max(0, waiting - self._max_deferred)
        if shed:
            await conn.execute(
                "UPDATE deferrals SET status = 'shed', done_at = $1, claimed_by = NULL, result = $2"
                " WHERE id IN (SELECT id FROM deferrals WHERE status = 'waiting'"
                " ORDER BY rank DESC, created_at DESC, id DESC LIMIT $3)",
                now,
                f"shed: {waiting} decisions were waiting (max {self._max_deferred}); the least severe and"
                " newest gave way",
                shed,
            )
        self._deferred_waiting = waiting - shed
        return shed

    async def claim_deferrals(self, *, worker: str, lease_s: float, limit: int) -> list[Deferral]:
        now = self._clock.now().timestamp()
        rows = await self._pool.fetch(
            "UPDATE deferrals SET claimed_by = $1, claimed_until = $2"
            " WHERE id IN (SELECT id FROM deferrals WHERE status = 'waiting'"
            " AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY rank, created_at, id LIMIT $4"
            f" FOR UPDATE SKIP LOCKED) RETURNING {_DEFERRAL_COLUMNS}, rank",
            worker,
            now + lease_s,
            now,
            limit,
        )
        return [_deferral(r) for r in sorted(rows, key=lambda r: (r[-1], r[10], r[0]))]

    async def end_deferral(self, deferral_id: int, *, status: DeferralStatus, result: str) -> bool:
        done = await self._pool.execute(
            "UPDATE deferrals SET status = $1, done_at = $2, result = $3, claimed_by = NULL,"
            " claimed_until = NULL WHERE id = $4 AND status = 'waiting'",
            status,
            self._clock.now().timestamp(),
            result[:2000],
            deferral_id,
        )
        self._deferred_waiting = max(0, self._deferred_waiting - _count(done))
        return bool(_count(done))

    async def keep_deferred(self, deferral_id: int, *, worker: str, reason: str) -> None:
        await self._pool.execute(
            "UPDATE deferrals SET attempts = attempts + 1, last_at = $1, reason = $2, claimed_by = NULL,"
            " claimed_until = NULL WHERE id = $3 AND status = 'waiting' AND claimed_by = $4",
            self._clock.now().timestamp(),
            reason[:2000],
            deferral_id,
            worker,
        )

    async def cancel_deferrals(self, fingerprint: str, *, reason: str) -> int:
        done = await self._pool.execute(
            "UPDATE deferrals SET status = 'cancelled', done_at = $1, result = $2, claimed_by = NULL,"
            " claimed_until = NULL WHERE fingerprint = $3 AND status = 'waiting'",
            self._clock.now().timestamp(),
            reason[:2000],
            fingerprint,
        )
        self._deferred_waiting = max(0, self._deferred_waiting - _count(done))
        return _count(done)

    async def deferrals(
        self, *, status: DeferralStatus | None = "waiting", limit: int = 100
    ) -> list[Deferral]:
        args: tuple[Any, ...]
        if status == "waiting":
            sql = (
                f"SELECT {_DEFERRAL_COLUMNS} FROM deferrals WHERE status = 'waiting'"
                " ORDER BY rank, created_at, id LIMIT $1"
            )
            args = (limit,)
        elif status is None:
            sql = f"SELECT {_DEFERRAL_COLUMNS} FROM deferrals ORDER BY id DESC LIMIT $1"
            args = (limit,)
        else:
            sql = f"SELECT {_DEFERRAL_COLUMNS} FROM deferrals WHERE status = $1 ORDER BY id DESC LIMIT $2"
            args = (status, limit)
        return [_deferral(r) for r in await self._pool.fetch(sql, *args)]

    def deferred_waiting(self) -> int:
        """Waiting deferrals, as of this replica's last write or refresh (other replicas write too)."""
        return self._deferred_waiting

    async def _count_deferred_waiting(self) -> int:
        return int(await self._pool.fetchval("SELECT count(*) FROM deferrals WHERE status = 'waiting'"))
