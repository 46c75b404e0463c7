"""The shared journal: PostgreSQL through asyncpg, for several replicas on one database.

Any replica accepts any webhook. Payloads queued while a commit is in flight share the next one
(group commit: one `INSERT ... SELECT FROM unnest(...)`, one round trip, one WAL flush), and the
2xx still means "durably written". A NOTIFY in the same statement wakes every replica's processor.

Deciding is serialized across replicas: a decision scope is one transaction that first takes an
exclusive advisory lock, then reads what the other replicas wrote since this one last decided (the
guard feed), claims payloads (`FOR UPDATE SKIP LOCKED`), and writes the decisions, their
executions and the payloads marked processed before it commits. Guard state is therefore read and
reserved in the transaction that records the decision. Receiving and executing, the slow parts,
run in parallel on every replica; deciding is CPU-cheap and takes turns.

Each replica holds a lease (`replicas.lease_until`, database time, so replicas' clocks need not
agree) renewed by a heartbeat. Executions belong to the replica that decided them; those of a
replica whose lease expired are interrupted and decided again by another (see `engine/recovery`).
An execution starts only if it is still pending, so a replica that was presumed dead never runs
work that was taken over.

Measured against psycopg 3 on the group-commit insert path (64 concurrent accepts of 600-byte
payloads, fsync on): asyncpg ~55-61k accepts/s and 0.25-0.35 ms per lone accept; psycopg (binary
parameters) ~51k/s and 0.42-0.47 ms. asyncpg's binary protocol is the faster of the two, so asyncpg.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.logs import get_logger
from remediator.model import (
    Alert,
    AlertId,
    Decision,
    DecisionId,
    ExecutionId,
    ExecutionStatus,
    Outcome,
    PayloadId,
    Source,
)
from remediator.store import postgres_schema
from remediator.store.incident_queries import IncidentQueries
from remediator.store.postgres_controls import PostgresControlRecords
from remediator.store.postgres_incidents import PostgresIncidentRecords
from remediator.store.postgres_oversight import PostgresOversight
from remediator.store.postgres_scheduling import PostgresSchedulingRecords
from remediator.store.records import (
    ActRecord,
    ExecutionUpdate,
    GuardFeed,
    InterruptedExecution,
    JournalOverloaded,
    JournalUnavailable,
    OutcomeRecord,
    RecordedBatch,
    RunningRecord,
    StoredPayload,
)
from remediator.store.scheduling import approval_timers

log = get_logger("remediator.store")

DECISION_LOCK = 0x72656D64
"""Advisory lock key ("remd"): exclusive while deciding, shared while an execution ends."""
NOTIFY_CHANNEL = "remediator_payloads"
_MAX_ACCEPTS_PER_COMMIT = 2048
_UNFINISHED = (ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value)
_GUARD_HORIZON_S = 86400.0
"""How far back a full guard rebuild reads: the longest window a guard looks at (as at start-up)."""

_INSERT_PAYLOADS = (
    "WITH r AS (SELECT nextval('payloads_id_seq') AS id, u.ord, u.s, u.t, u.b"
    " FROM unnest($1::text[], $2::float8[], $3::bytea[]) WITH ORDINALITY AS u(s, t, b, ord)),"
    " ins AS (INSERT INTO payloads(id, source, received_at, body) SELECT id, s, t, b FROM r)"
    f" SELECT r.id FROM r CROSS JOIN (SELECT pg_notify('{NOTIFY_CHANNEL}', '')) AS n ORDER BY r.ord"
)


def redact(url: str) -> str:
    """The URL without any password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


@dataclass
class _Accept:
    source: Source
    body: bytes
    received_at: float
    future: asyncio.Future[PayloadId | None]
    delivery_id: str | None = None
    """A sender's delivery id (PagerDuty's X-Webhook-Id): a repeat within `ttl_s` is not written."""
    ttl_s: float = 0.0


class _Reader:
    """The read model's SQL (`?` parameters, see queries.py) on the pool, as `$n` parameters."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> list[asyncpg.Record]:
        return list(await self._pool.fetch(_numbered(sql), *(parameters or ())))


@functools.lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (none of the read model's literals holds a `?`)."""
    parts = sql.split("?")
    return "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], start=1)) + parts[-1]


class PostgresJournal(
    PostgresOversight,
    IncidentQueries,
    PostgresIncidentRecords,
    PostgresSchedulingRecords,
    PostgresControlRecords,
):
    """The shared journal: PostgreSQL through asyncpg, several replicas on one database."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        replica: str,
        lease_s: float,
        max_pending: int,
        max_backlog: int,
        clock: Clock,
        approval_expiry_s: float,
        approval_remind_before_s: float = 900.0,
        max_deferred: int = 1000,
    ) -> None:
        self._pool = pool
        self._reader = _Reader(pool)
        self.replica = replica
        self._lease_s = lease_s
        self._max_pending = max_pending
        self._max_backlog = max_backlog
        self._clock = clock
        self._approval_expiry_s = approval_expiry_s
        self._approval_remind_before_s = approval_remind_before_s
        self._max_deferred = max_deferred
        self._deferred_waiting = 0
        self._queue: asyncio.Queue[_Accept | None] = asyncio.Queue()
        self._new_payloads = asyncio.Event()
        self._stopping = asyncio.Event()
        self._decide_lock = asyncio.Lock()
        self._backlog = 0
        self._waiting_accepts = 0
        self._claims_full = False
        self._act_mark = 0
        self._outcome_mark = 0
        self._full_sync = True
        self.takeover_every_s: float | None = max(lease_s / 3, 0.05)
        self.commits = 0
        self.accepted = 0

    @property
    def _reads(self) -> _Reader:
        return self._reader

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        password: str | None = None,
        replica: str | None = None,
        lease_s: float = 15.0,
        pool_size: int = 10,
        connect_timeout_s: float = 10.0,
        max_pending: int = 2000,
        max_backlog: int = 1_000_000,
        clock: Clock = SYSTEM_CLOCK,
        approval_expiry_s: float = 3600.0,
        approval_remind_before_s: float = 900.0,
        max_deferred: int = 1000,
    ) -> AsyncIterator[PostgresJournal]:
        where = redact(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                password=password,
                min_size=1,
                max_size=max(pool_size, 3),
                timeout=connect_timeout_s,
                server_settings={"application_name": "remediator"},
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as e:
            raise JournalUnavailable(f"journal {where}: cannot connect: {e}") from e
        try:
            async with pool.acquire() as conn:
                applied = await postgres_schema.migrate(conn, where=where, now=clock.now().timestamp())
            if applied:
                log.info("journal schema migrated", journal=where, versions=applied)
            journal = cls(
                pool,
                replica=replica or replica_name(),
                lease_s=lease_s,
                max_pending=max_pending,
                max_backlog=max_backlog,
                clock=clock,
                approval_expiry_s=approval_expiry_s,
                approval_remind_before_s=approval_remind_before_s,
                max_deferred=max_deferred,
            )
            await journal._register()
            await journal._refresh_backlog()
            listener = await pool.acquire()
            try:
                await listener.add_listener(NOTIFY_CHANNEL, journal._notified)
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(journal._writer_loop(), name="journal-writer")
                    tg.create_task(journal._heartbeat_loop(), name="journal-heartbeat")
                    try:
                        yield journal
                    finally:
                        # Accepts queued before the close are committed: what was acknowledged is stored.
                        journal._queue.put_nowait(None)
                        journal._stopping.set()
            finally:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(NOTIFY_CHANNEL, journal._notified)
                await pool.release(listener)
            await journal._retire()
        finally:
            await pool.close()

    async def _register(self) -> None:
        await self._pool.execute(
            "INSERT INTO replicas(id, host, lease_until)"
            " VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))",
            self.replica,
            socket.gethostname(),
            self._lease_s,
        )

    async def _retire(self) -> None:
        """A clean stop: expire the lease now, so another replica takes over what is unfinished at once."""
        with contextlib.suppress(Exception):
            await self._pool.execute(
                "UPDATE replicas SET lease_until = clock_timestamp() WHERE id = $1", self.replica
            )

    async def _heartbeat_loop(self) -> None:
        every = self._lease_s / 3
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                renewed = await self._pool.execute(
                    "UPDATE replicas SET lease_until = clock_timestamp() + make_interval(secs => $2)"
                    " WHERE id = $1",
                    self.replica,
                    self._lease_s,
                )
                if renewed == "UPDATE 0":
                    log.error(
                        "this replica's lease had expired: its unfinished executions were taken over",
                        replica=self.replica,
                    )
                    await self._register()
                await self._refresh_backlog()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("journal heartbeat failed", replica=self.replica, error=str(e))

    async def _refresh_backlog(self) -> None:
        """Other replicas accept and process too: the counts this replica serves are re-read."""
        n = await self._pool.fetchval("SELECT count(*) FROM payloads WHERE processed_at IS NULL")
        self._backlog = int(n)
        self._deferred_waiting = await self._count_deferred_waiting()

    def _notified(self, *_: object) -> None:
        self._new_payloads.set()

    # -- intake ------------------------------------------------------------------------------------

    async def accept(self, source: Source, body: bytes) -> PayloadId:
        payload_id = await self._accept(source, body, delivery_id=None, ttl_s=0.0)
        assert payload_id is not None  # only a delivery id makes a repeat
        return payload_id

    async def accept_once(
        self, source: Source, body: bytes, *, delivery_id: str, ttl_s: float
    ) -> PayloadId | None:
        return await self._accept(source, body, delivery_id=delivery_id, ttl_s=ttl_s)

    async def _accept(
        self, source: Source, body: bytes, *, delivery_id: str | None, ttl_s: float
    ) -> PayloadId | None:
        if self._waiting_accepts >= self._max_pending:
            raise JournalOverloaded(
                f"{self._waiting_accepts} webhook writes waiting (max {self._max_pending})"
            )
        if self._backlog >= self._max_backlog:
            raise JournalOverloaded(
                f"backlog of {self._backlog} unprocessed payloads (max {self._max_backlog})"
            )
        fut: asyncio.Future[PayloadId | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Accept(source, body, self._clock.now().timestamp(), fut, delivery_id, ttl_s))
        self._waiting_accepts += 1
        try:
            return await fut
        finally:
            self._waiting_accepts -= 1

    async def _writer_loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            # One turn of the event loop: webhooks arriving together share this commit.
            await asyncio.sleep(0)
            batch = [first]
            closing = False
            while len(batch) < _MAX_ACCEPTS_PER_COMMIT and not self._queue.empty():
                op = self._queue.get_nowait()
                if op is None:
                    closing = True
                    break
                batch.append(op)
            await self._commit_accepts(batch)
            if closing:
                return

    async def _commit_accepts(self, batch: list[_Accept]) -> None:
        repeats: list[_Accept] = []
        try:
            async with self._pool.acquire() as conn:
                if any(a.delivery_id is not None for a in batch):
                    async with conn.transaction():
                        batch, repeats = await self._drop_repeated_deliveries(conn, batch)
                        rows = await self._insert_payloads(conn, batch)
                else:
                    rows = await self._insert_payloads(conn, batch)  # one statement: its own commit
        except Exception as e:
            err = JournalUnavailable(f"journal write failed: {e}")
            for a in batch + repeats:
                if not a.future.done():
                    a.future.set_exception(err)
            return
        self.commits += 1
        self.accepted += len(batch)
        self._backlog += len(batch)
        if batch:
            self._new_payloads.set()
        for a in repeats:
            if not a.future.done():
                a.future.set_result(None)
        for a, r in zip(batch, rows, strict=True):
            if not a.future.done():
                a.future.set_result(PayloadId(r[0]))

    @staticmethod
    async def _insert_payloads(conn: asyncpg.Connection, batch: list[_Accept]) -> list[asyncpg.Record]:
        if not batch:
            return []
        return list(
            await conn.fetch(
                _INSERT_PAYLOADS,
                [a.source for a in batch],
                [a.received_at for a in batch],
                [a.body for a in batch],
            )
        )

    async def _drop_repeated_deliveries(
        self, conn: asyncpg.Connection, batch: list[_Accept]
    ) -> tuple[list[_Accept], list[_Accept]]:
        """(accepts to write, repeats): a delivery id seen within its time to live, on any replica or
        earlier in this batch, is a repeat; the others' ids are claimed in this transaction."""
        now = self._clock.now().timestamp()
        fresh: list[_Accept] = []
        repeats: list[_Accept] = []
        seen: set[str] = set()
        for a in batch:
            if a.delivery_id is None:
                fresh.append(a)
            elif a.delivery_id in seen or not await self._claim_delivery(conn, a.delivery_id, a.ttl_s, now):
                repeats.append(a)
            else:
                seen.add(a.delivery_id)
                fresh.append(a)
        if seen:
            await self._forget_deliveries(conn, max(a.ttl_s for a in batch if a.delivery_id), now)
        return fresh, repeats

    def backlog(self) -> int:
        return self._backlog

    async def probe_write(self) -> None:
        if self._waiting_accepts >= self._max_pending or self._backlog >= self._max_backlog:
            raise JournalOverloaded(
                f"shedding webhooks: {self._waiting_accepts} writes waiting (max {self._max_pending}), "
                f"backlog {self._backlog} (max {self._max_backlog})"
            )
        try:
            await self._pool.execute(
                "INSERT INTO deliveries(id, at) VALUES ($1, $2)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                "remediator:readiness-probe",
                self._clock.now().timestamp(),
            )
        except Exception as e:
            raise JournalUnavailable(f"journal write failed: {e}") from None

    def intake_waiting(self) -> int:
        return self._waiting_accepts

    async def wait_for_payloads(self, timeout_s: float) -> None:
        if self._claims_full:
            return  # the last claim took a full batch: there is more
        self._new_payloads.clear()
        # Idle here: what is left is being processed by other replicas (or nothing is): count it.
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._refresh_backlog()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._new_payloads.wait()

    # -- deciding ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def deciding(self) -> AsyncIterator[_Scope]:
        async with self._decide_lock, self._pool.acquire() as conn:
            full = self._full_sync
            self._full_sync = True  # until this scope commits
            try:
                async with conn.transaction():
                    # A replica stalled inside the lock must not stop every other one for long: the
                    # server ends a transaction left idle this long, which releases the lock.
                    idle_ms = int(max(4 * self._lease_s, 60.0) * 1000)
                    await conn.execute(f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}")
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", DECISION_LOCK)
                    feed, marks = await self._feed(conn, full=full)
                    scope = _Scope(self, conn, feed)
                    yield scope
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                raise JournalUnavailable(f"journal write failed: {e}") from e
            self._act_mark, self._outcome_mark = marks
            self._full_sync = False
            self._backlog = max(0, self._backlog - scope.processed)
            self._deferred_waiting = max(0, self._deferred_waiting - scope.settled)

    async def _feed(self, conn: asyncpg.Connection, *, full: bool) -> tuple[GuardFeed, tuple[int, int]]:
        """Under the decision lock: every execution insert and end committed before it is visible,
        so reading past the two marks misses nothing."""
        marks = await conn.fetchrow(
            "SELECT (SELECT COALESCE(max(id), 0) FROM executions),"
            " (SELECT COALESCE(max(finish_seq), 0) FROM executions)"
        )
        act_sql = (
            "SELECT e.rule, e.target, e.dry_run, d.decided_at, a.fingerprint, a.starts_at FROM executions e"
            " JOIN decisions d ON d.id = e.decision_id LEFT JOIN alerts a ON a.id = e.alert_id"
        )
        outcome_sql = (
            "SELECT rule, target, status, finished_at FROM executions"
            " WHERE dry_run = 0 AND status IN ('succeeded', 'failed')"
        )
        if full:
            since = self._clock.now().timestamp() - _GUARD_HORIZON_S
            # A queued execution that never started changed nothing: it holds no cooldown.
            acts = await conn.fetch(
                act_sql + " WHERE d.decided_at >= $1 AND NOT (e.status = 'interrupted' AND"
                " e.started_at IS NULL) ORDER BY d.decided_at, e.id",
                since,
            )
            outcomes = await conn.fetch(
                outcome_sql + " AND finished_at >= $1 ORDER BY finished_at, id", since
            )
        else:
            acts = await conn.fetch(
                act_sql + " WHERE e.id > $1 AND e.owner <> $2 ORDER BY e.id", self._act_mark, self.replica
            )
            outcomes = await conn.fetch(
                outcome_sql + " AND finish_seq > $1 AND owner <> $2 ORDER BY finish_seq",
                self._outcome_mark,
                self.replica,
            )
        running = await conn.fetch(
            "SELECT rule, target, dry_run FROM executions WHERE status IN ('pending', 'running') ORDER BY id"
        )
        feed = GuardFeed(
            full=full,
            acts=tuple(
                ActRecord(
                    rule=r[0],
                    target=r[1],
                    dry_run=bool(r[2]),
                    decided_at=datetime.fromtimestamp(r[3], UTC),
                    fingerprint=r[4],
                    starts_at=_dt(r[5]),
                )
                for r in acts
            ),
            outcomes=tuple(
                OutcomeRecord(
                    rule=r[0],
                    target=r[1],
                    ok=r[2] == ExecutionStatus.SUCCEEDED.value,
                    finished_at=datetime.fromtimestamp(r[3], UTC),
                )
                for r in outcomes
            ),
            running=tuple(RunningRecord(rule=r[0], target=r[1], dry_run=bool(r[2])) for r in running),
        )
        return feed, (int(marks[0]), int(marks[1]))

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        """Outside a decision scope: a look at the oldest unprocessed payloads, nothing claimed."""
        rows = await self._pool.fetch(
            "SELECT id, source, received_at, body FROM payloads WHERE processed_at IS NULL"
            " ORDER BY id LIMIT $1",
            limit,
        )
        return [_payload(r) for r in rows]

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        async with self.deciding() as scope:
            return await scope.record_batch(payload_ids=payload_ids, alerts=alerts, decisions=decisions)

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        async with self.deciding() as scope:
            return await scope.record_decisions(decisions)

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        async with self.deciding() as scope:
            return await scope.interrupt_unfinished()

    # -- executions --------------------------------------------------------------------------------

    async def start_execution(self, execution_id: ExecutionId) -> bool:
        done = await self._pool.execute(
            "UPDATE executions SET status = 'running', started_at = $2"
            " WHERE id = $1 AND status = 'pending' AND owner = $3",
            execution_id,
            self._clock.now().timestamp(),
            self.replica,
        )
        return bool(done != "UPDATE 0")

    async def finish_execution(self, execution_id: ExecutionId, update: ExecutionUpdate) -> None:
        now = self._clock.now().timestamp()
        changes = json.dumps(
            [{"path": c.path, "before": c.before, "after": c.after} for c in update.changes], default=str
        )
        async with self._pool.acquire() as conn, conn.transaction():
            # Shared with other endings, exclusive with deciding: `finish_seq` is in commit order.
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", DECISION_LOCK)
            await conn.execute(
                "UPDATE executions SET status = $2, attempts = $3, error = $4, changes = $5, summary = $6,"
                " finished_at = $7, started_at = COALESCE(started_at, $7),"
                " finish_seq = nextval('execution_finish_seq') WHERE id = $1",
                execution_id,
                update.status.value,
                update.attempts,
                update.error,
                changes,
                update.summary,
                now,
            )

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

    # -- queries -----------------------------------------------------------------------------------

    async def recent_acts(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        rows = await self._pool.fetch(
            "SELECT e.rule, e.target, e.dry_run, d.decided_at FROM executions e"
            " JOIN decisions d ON d.id = e.decision_id"
            " WHERE d.decided_at >= $1 AND NOT (e.status = 'interrupted' AND e.started_at IS NULL)"
            " ORDER BY d.decided_at, e.id",
            since.timestamp(),
        )
        return [(r[0], r[1], bool(r[2]), datetime.fromtimestamp(r[3], UTC)) for r in rows]

    async def execution_outcomes(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        rows = await self._pool.fetch(
            "SELECT rule, target, status, finished_at FROM executions"
            " WHERE dry_run = 0 AND status IN ('succeeded', 'failed') AND finished_at >= $1"
            " ORDER BY finished_at, id",
            since.timestamp(),
        )
        return [
            (r[0], r[1], r[2] == ExecutionStatus.SUCCEEDED.value, datetime.fromtimestamp(r[3], UTC))
            for r in rows
        ]

    async def get_alert(self, alert_id: AlertId) -> Alert | None:
        async with self._pool.acquire() as conn:
            return await _get_alert(conn, alert_id)

    # -- writing decisions (inside a decision transaction) ----------------------------------------

    async def _insert_decisions_on(
        self, conn: asyncpg.Connection, decisions: Sequence[tuple[AlertId | None, Decision]], now: float
    ) -> tuple[tuple[DecisionId, ...], dict[int, ExecutionId]]:
        """The decisions, an execution per acting one (owned by this replica), a pending approval per
        alert episode that needs one (with its timers), and a deferral per deferred one. Execution ids
        are taken here, under the decision lock, so they grow in commit order (see `_feed`)."""
        acting = sum(1 for _, d in decisions if d.acts and d.target is not None)
        decision_ids, execution_ids = await _take_ids(conn, decisions=len(decisions), executions=acting)
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

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> tuple[DecisionId, ExecutionId | None] | None:
        # Its execution is a new one: written in a decision transaction like every other.
        async with self.deciding() as scope:
            return await scope.settle_deferral(
                deferral_id, worker=worker, decision=decision, alert_id=alert_id
            )


def _payload(r: asyncpg.Record) -> StoredPayload:
    return StoredPayload(
        id=PayloadId(r[0]),
        source=cast(Source, r[1]),
        received_at=datetime.fromtimestamp(r[2], UTC),
        body=bytes(r[3]),
    )


async def _take_ids(conn: asyncpg.Connection, **counts: int) -> list[list[int]]:
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


async def _get_alert(conn: asyncpg.Connection, alert_id: AlertId) -> Alert | None:
    r = await conn.fetchrow(
        "SELECT payload_id, source, fingerprint, status, starts_at, ends_at, labels, annotations,"
        " generator_url FROM alerts WHERE id = $1",
        alert_id,
    )
    if r is None:
        return None
    return Alert(
        payload_id=PayloadId(r[0]) if r[0] is not None else None,
        source=r[1],
        fingerprint=r[2],
        status=r[3],
        starts_at=datetime.fromtimestamp(r[4], UTC),
        ends_at=_dt(r[5]),
        labels=json.loads(r[6]),
        annotations=json.loads(r[7]),
        generator_url=r[8],
    )


class _Scope:
    """One decision transaction on the shared journal (see `PostgresJournal.deciding`)."""

    def __init__(self, journal: PostgresJournal, conn: asyncpg.Connection, feed: GuardFeed) -> None:
        self._j = journal
        self._conn = conn
        self.feed = feed
        self.processed = 0
        self.settled = 0

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        rows = await self._conn.fetch(
            "SELECT id, source, received_at, body FROM payloads WHERE processed_at IS NULL"
            " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        self._j._claims_full = len(rows) >= limit
        return [_payload(r) for r in rows]

    async def get_alert(self, alert_id: AlertId) -> Alert | None:
        return await _get_alert(self._conn, alert_id)

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
        [ids] = await _take_ids(self._conn, alerts=len(alerts))
        alert_ids = tuple(AlertId(i) for i in ids)
        if alerts:
            await self._conn.executemany(
                "INSERT INTO alerts(id, payload_id, source, fingerprint, status, starts_at, ends_at, labels,"
                " annotations, generator_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [
                    (
                        aid,
                        a.payload_id,
                        a.source,
                        a.fingerprint,
                        a.status,
                        a.starts_at.timestamp(),
                        _ts(a.ends_at),
                        json.dumps(dict(a.labels)),
                        json.dumps(dict(a.annotations)),
                        a.generator_url,
                    )
                    for aid, a in zip(alert_ids, alerts, strict=True)
                ],
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
        """Executions of replicas whose lease has expired (a crash, a lost node, a clean stop)."""
        now = self._j._clock.now().timestamp()
        rows = await self._conn.fetch(
            "UPDATE executions e SET status = 'interrupted', finished_at = $1,"
            " finish_seq = nextval('execution_finish_seq'),"
            " error = 'interrupted: replica ' || e.owner || ' stopped while this execution was '"
            " || CASE WHEN e.started_at IS NULL THEN 'queued' ELSE 'running' END"
            " WHERE e.status IN ('pending', 'running') AND NOT EXISTS (SELECT 1 FROM replicas r"
            " WHERE r.id = e.owner AND r.lease_until >= clock_timestamp())"
            " RETURNING e.id, e.decision_id, e.alert_id, e.rule, e.target, e.started_at, e.owner",
            now,
        )
        await self._conn.execute("DELETE FROM replicas WHERE lease_until < clock_timestamp()")
        return [
            InterruptedExecution(
                execution_id=ExecutionId(r[0]),
                decision_id=DecisionId(r[1]),
                alert_id=AlertId(r[2]) if r[2] is not None else None,
                rule=r[3],
                target=r[4],
                started=r[5] is not None,
            )
            for r in sorted(rows, key=lambda r: int(r[0]))
        ]


def replica_name() -> str:
    """This daemon's name among replicas: the pod name (hostname) and a random suffix per start."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{secrets.token_hex(3)}"
