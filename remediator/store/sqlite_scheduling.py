"""Timers and deferred decisions in SQLite: a mixin of `SqliteJournal` (see `scheduling.py`).

Writes go through the journal's single writer (`_submit`), so a timer scheduled with an incident
change or a deferral written with its decision share that transaction. Claims are one
`UPDATE ... RETURNING`: with one writer that is atomic, and the same statement with
`FOR UPDATE SKIP LOCKED` in its subquery is how PostgreSQL does it for several replicas.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from remediator.model import AlertId, Decision, DecisionId, ExecutionId, Outcome
from remediator.severity import rank
from remediator.store.scheduling import Deferral, DeferralStatus, NewTimer, Timer, new_waits
from remediator.store.sqlite_writer import SqliteWriter

_TIMER_COLUMNS = (
    "id, kind, key, due_at, payload, created_at, attempts, claimed_by, claimed_until, done_at, result"
)
_DEFERRAL_COLUMNS = (
    "id, decision_id, alert_id, rule, target, fingerprint, starts_at, severity, reason, skip_guards,"
    " created_at, attempts, status, last_at, done_at, result, decision"
)


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _timer(r: Sequence[Any]) -> Timer:
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


def _deferral(r: Sequence[Any]) -> Deferral:
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


class SchedulingRecords(SqliteWriter):
    _max_deferred: int
    _deferred_waiting: int

    def _insert_decisions(
        self, db: sqlite3.Connection, decisions: Sequence[tuple[AlertId | None, Decision]], now: float
    ) -> tuple[tuple[DecisionId, ...], dict[int, ExecutionId]]:
        raise NotImplementedError

    # -- timers ------------------------------------------------------------------------------------

    def _insert_timers(self, db: sqlite3.Connection, timers: Sequence[NewTimer], now: float) -> None:
        for t in timers:
            due = t.due_at.timestamp()
            keep = "MIN(due_at, excluded.due_at)" if t.only_if_earlier else "excluded.due_at"
            db.execute(
                "INSERT INTO timers(id, kind, key, due_at, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(kind, key) WHERE done_at IS NULL DO UPDATE SET"
                f" due_at = {keep}, payload = excluded.payload, claimed_by = NULL, claimed_until = NULL",
                (self._take_ids("timers", 1), t.kind, t.key, due, json.dumps(dict(t.payload)), now),
            )

    async def schedule(self, timers: Sequence[NewTimer]) -> None:
        if not timers:
            return
        now = self._clock.now().timestamp()
        timers = tuple(timers)  # the job's own (see sqlite_writer.py)

        def job(db: sqlite3.Connection) -> None:
            self._insert_timers(db, timers, now)

        await self._submit(job)

    async def claim_timers(self, *, worker: str, lease_s: float, limit: int) -> list[Timer]:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> list[Timer]:
            rows = db.execute(
                "UPDATE timers SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM timers WHERE done_at IS NULL AND due_at <= ?"
                " AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY due_at, id LIMIT ?)"
                f" RETURNING {_TIMER_COLUMNS}",
                (worker, now + lease_s, now, now, limit),
            ).fetchall()
            return sorted((_timer(r) for r in rows), key=lambda t: (t.due_at, t.id))

        return await self._submit(job)

    async def finish_timer(
        self, timer_id: int, *, worker: str, result: str, then: Sequence[NewTimer] = ()
    ) -> bool:
        now = self._clock.now().timestamp()
        then = tuple(then)

        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE timers SET done_at = ?, result = ?, claimed_until = NULL"
                " WHERE id = ? AND claimed_by = ? AND done_at IS NULL",
                (now, result[:2000], timer_id, worker),
            )
            if not cur.rowcount:
                return False
            self._insert_timers(db, then, now)
            return True

        return await self._submit(job)

    async def retry_timer(self, timer_id: int, *, worker: str, due_at: datetime, result: str) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE timers SET due_at = ?, result = ?, claimed_by = NULL, claimed_until = NULL"
                " WHERE id = ? AND claimed_by = ? AND done_at IS NULL",
                (due_at.timestamp(), result[:2000], timer_id, worker),
            )

        await self._submit(job)

    def _cancel_timers(
        self, db: sqlite3.Connection, keys: Sequence[tuple[str, str]], reason: str, now: float
    ) -> int:
        n = 0
        for kind, key in keys:
            cur = db.execute(
                "UPDATE timers SET done_at = ?, result = ?, claimed_by = NULL, claimed_until = NULL"
                " WHERE kind = ? AND key = ? AND done_at IS NULL",
                (now, f"cancelled: {reason}"[:2000], kind, key),
            )
            n += cur.rowcount
        return n

    async def cancel_timers(self, keys: Sequence[tuple[str, str]], *, reason: str) -> int:
        now = self._clock.now().timestamp()
        keys = tuple(keys)

        def job(db: sqlite3.Connection) -> int:
            return self._cancel_timers(db, keys, reason, now)

        return await self._submit(job)

    async def next_timer_due(self) -> datetime | None:
        rows = list(await self._r.execute_fetchall("SELECT MIN(due_at) FROM timers WHERE done_at IS NULL"))
        return _dt(rows[0][0]) if rows else None

    async def timers(self, *, pending: bool = True, limit: int = 100) -> list[Timer]:
        if pending:
            sql = f"SELECT {_TIMER_COLUMNS} FROM timers WHERE done_at IS NULL ORDER BY due_at, id LIMIT ?"
        else:
            sql = f"SELECT {_TIMER_COLUMNS} FROM timers WHERE done_at IS NOT NULL ORDER BY id DESC LIMIT ?"
        return [_timer(r) for r in await self._r.execute_fetchall(sql, (limit,))]

    # -- deferred decisions ------------------------------------------------------------------------

    def _insert_deferrals(
        self,
        db: sqlite3.Connection,
        rows: Sequence[tuple[DecisionId, AlertId | None, Decision]],
        now: float,
    ) -> int:
        """Deferral rows for deferred decisions, then shed past the bound: the least severe, newest
        first (the most severe and the longest waiting keep their place). Returns how many were shed."""
        deferred = [d for _, _, d in rows if d.outcome is Outcome.DEFERRED and d.target]
        if not deferred:
            return 0
        fingerprints = sorted({d.alert.fingerprint for d in deferred})
        marks = ",".join("?" * len(fingerprints))
        open_waits = db.execute(
            "SELECT fingerprint, starts_at, rule, target FROM deferrals"
            f" WHERE status = 'waiting' AND fingerprint IN ({marks})",
            fingerprints,
        ).fetchall()
        added = new_waits(rows, {(r[0], r[1], r[2], r[3]) for r in open_waits})
        if not added:
            return 0
        first = self._take_ids("deferrals", len(added))
        db.executemany(
            "INSERT INTO deferrals(id, decision_id, alert_id, rule, target, fingerprint, starts_at, severity,"
            " rank, reason, skip_guards, created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    first + i,
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
                    "waiting",
                )
                for i, (did, aid, d) in enumerate(added)
            ],
        )
        waiting = self._deferred_waiting + len(added)
        shed = max(0, waiting - self._max_deferred)
        if shed:
            db.execute(
                "UPDATE deferrals SET status = 'shed', done_at = ?, claimed_by = NULL,"
                " result = 'shed: ' || ? || ' decisions were waiting (max ' || ? || '); the least severe and'"
                " || ' newest gave way'"
                " WHERE id IN (SELECT id FROM deferrals WHERE status = 'waiting'"
                " ORDER BY rank DESC, created_at DESC, id DESC LIMIT ?)",
                (now, waiting, self._max_deferred, shed),
            )
        # Like the id counters: changed inside the transaction, restored by the writer if it rolls back.
        self._deferred_waiting = waiting - shed
        return shed

    async def claim_deferrals(self, *, worker: str, lease_s: float, limit: int) -> list[Deferral]:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> list[Deferral]:
            rows = db.execute(
                "UPDATE deferrals SET claimed_by = ?, claimed_until = ?"
                " WHERE id IN (SELECT id FROM deferrals WHERE status = 'waiting'"
                " AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY rank, created_at, id LIMIT ?)"
                f" RETURNING {_DEFERRAL_COLUMNS}, rank",
                (worker, now + lease_s, now, limit),
            ).fetchall()
            return [_deferral(r) for r in sorted(rows, key=lambda r: (r[-1], r[10], r[0]))]

        return await self._submit(job)

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> tuple[DecisionId, ExecutionId | None] | None:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> tuple[DecisionId, ExecutionId | None] | None:
            rows = list(
                db.execute(
                    "SELECT 1 FROM deferrals WHERE id = ? AND status = 'waiting' AND claimed_by = ?",
                    (deferral_id, worker),
                ).fetchall()
            )
            if not rows:
                return None
            ids, executions = self._insert_decisions(db, [(alert_id, decision)], now)
            db.execute(
                "UPDATE deferrals SET status = 'redecided', done_at = ?, decision = ?, result = ?,"
                " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                (now, ids[0], f"{decision.outcome.value}: {decision.reason}"[:2000], deferral_id),
            )
            self._deferred_waiting -= 1
            return ids[0], executions.get(0)

        return await self._submit(job)

    async def end_deferral(self, deferral_id: int, *, status: DeferralStatus, result: str) -> bool:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE deferrals SET status = ?, done_at = ?, result = ?, claimed_by = NULL,"
                " claimed_until = NULL WHERE id = ? AND status = 'waiting'",
                (status, now, result[:2000], deferral_id),
            )
            self._deferred_waiting -= cur.rowcount
            return bool(cur.rowcount)

        return await self._submit(job)

    async def keep_deferred(self, deferral_id: int, *, worker: str, reason: str) -> None:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE deferrals SET attempts = attempts + 1, last_at = ?, reason = ?, claimed_by = NULL,"
                " claimed_until = NULL WHERE id = ? AND status = 'waiting' AND claimed_by = ?",
                (now, reason[:2000], deferral_id, worker),
            )

        await self._submit(job)

    async def cancel_deferrals(self, fingerprint: str, *, reason: str) -> int:
        now = self._clock.now().timestamp()

        def job(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE deferrals SET status = 'cancelled', done_at = ?, result = ?, claimed_by = NULL,"
                " claimed_until = NULL WHERE fingerprint = ? AND status = 'waiting'",
                (now, reason[:2000], fingerprint),
            )
            self._deferred_waiting -= cur.rowcount
            return int(cur.rowcount)

        return await self._submit(job)

    async def deferrals(
        self, *, status: DeferralStatus | None = "waiting", limit: int = 100
    ) -> list[Deferral]:
        if status == "waiting":
            sql = (
                f"SELECT {_DEFERRAL_COLUMNS} FROM deferrals WHERE status = 'waiting'"
                " ORDER BY rank, created_at, id LIMIT ?"
            )
            args: tuple[Any, ...] = (limit,)
        elif status is None:
            sql = f"SELECT {_DEFERRAL_COLUMNS} FROM deferrals ORDER BY id DESC LIMIT ?"
            args = (limit,)
        else:
            sql = f"SELECT {_DEFERRAL_COLUMNS} FROM deferrals WHERE status = ? ORDER BY id DESC LIMIT ?"
            args = (status, limit)
        return [_deferral(r) for r in await self._r.execute_fetchall(sql, args)]

    def deferred_waiting(self) -> int:
        return self._deferred_waiting

    async def _count_deferred_waiting(self) -> int:
        rows = list(await self._r.execute_fetchall("SELECT COUNT(*) FROM deferrals WHERE status = 'waiting'"))
        return int(rows[0][0])
