"""The shared journal: PostgreSQL through asyncpg, for several replicas on one database.

Any replica accepts any webhook, in group commits (postgres_intake.py). Deciding is serialized
across replicas: a decision scope is one transaction under an exclusive advisory lock that reads
what the other replicas wrote since this one last decided, claims payloads and writes the decisions
before it commits (postgres_deciding.py, postgres_scope.py, postgres_decisions.py). Receiving and
executing, the slow parts, run in parallel on every replica; deciding is CPU-cheap and takes turns.
Each replica holds a lease renewed by a heartbeat (postgres_lease.py); an execution starts only if
it is still pending and this replica's (postgres_executions.py), so a replica that was presumed
dead never runs work that was taken over. This module opens the pool, migrates the schema and runs
the writer and heartbeat tasks for as long as the journal is open; the classes it builds on hold the
rest, one job each.

asyncpg rather than psycopg 3, by measurement (bench/drivers.py, row 8: both drivers on this
journal's accept statement): asyncpg committed 1.37x as many accepts per second in groups of 64
(fsync on) and answered a lone accept sooner (p50 1.65 vs 2.13 ms; 0.13 vs 0.22 ms with fsync off).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.logs import get_logger
from remediator.store import postgres_schema
from remediator.store.admission import Accept
from remediator.store.incident_queries import IncidentQueries
from remediator.store.postgres_controls import PostgresControlRecords
from remediator.store.postgres_deciding import PostgresDeciding
from remediator.store.postgres_decisions import PostgresDecisionRecords
from remediator.store.postgres_executions import PostgresExecutions
from remediator.store.postgres_incidents import PostgresIncidentRecords
from remediator.store.postgres_intake import NOTIFY_CHANNEL, PostgresIntake
from remediator.store.postgres_lease import PostgresLease, replica_name
from remediator.store.postgres_oversight import PostgresOversight
from remediator.store.postgres_reads import PostgresReader, PostgresReads
from remediator.store.postgres_revisions import PostgresOwnRevisions
from remediator.store.postgres_scheduling import PostgresSchedulingRecords
from remediator.store.postgres_sessions import PostgresConsoleSessions
from remediator.store.records import JournalUnavailable

__all__ = ["PostgresJournal", "create_pool", "redact", "replica_name"]

log = get_logger("remediator.store")


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


async def create_pool(
    url: str, *, password: str | None, max_size: int, connect_timeout_s: float, application_name: str
) -> asyncpg.Pool:
    """A connection pool to the journal; a failure to connect is JournalUnavailable, its URL redacted."""
    try:
        return await asyncpg.create_pool(
            url,
            password=password,
            min_size=1,
            max_size=max_size,
            timeout=connect_timeout_s,
            server_settings={"application_name": application_name},
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise JournalUnavailable(f"journal {redact(url)}: cannot connect: {e}") from e


class PostgresJournal(
    PostgresLease,
    PostgresIntake,
    PostgresDeciding,
    PostgresDecisionRecords,
    PostgresExecutions,
    PostgresReads,
    PostgresOversight,
    IncidentQueries,
    PostgresIncidentRecords,
    PostgresSchedulingRecords,
    PostgresControlRecords,
    PostgresOwnRevisions,
    PostgresConsoleSessions,
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
        self._reader = PostgresReader(pool)
        self.replica = replica
        self._lease_s = lease_s
        self._max_pending = max_pending
        self._max_backlog = max_backlog
        self._clock = clock
        self._approval_expiry_s = approval_expiry_s
        self._approval_remind_before_s = approval_remind_before_s
        self._max_deferred = max_deferred
        self._deferred_waiting = 0
        self._queue: asyncio.Queue[Accept | None] = asyncio.Queue()
        self._new_payloads = asyncio.Event()
        self._stopping = asyncio.Event()
        self._decide_lock = asyncio.Lock()
        self._beat_lock = asyncio.Lock()  # one heartbeat at a time on its connection
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
    def _reads(self) -> PostgresReader:
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
        pool = await create_pool(
            url,
            password=password,
            max_size=max(pool_size, 3) + 1,  # the heartbeat's connection comes on top
            connect_timeout_s=connect_timeout_s,
            application_name="remediator",
        )
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
            journal._beat = await pool.acquire()  # the heartbeat's own: never waits behind busy work
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
                await pool.release(journal._beat)
            await journal._retire()
        finally:
            await pool.close()
