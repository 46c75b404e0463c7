"""The intake process's journal on PostgreSQL: only webhook writes, the backlog and the probe.

The intake process (`intake.processes: 1`) writes payloads into the database the main process decides
from, through the same group commit as `PostgresJournal` (postgres_intake.py: one statement per
batch, ids from the sequence, a NOTIFY that wakes every processor). It opens a small pool of its own,
does not migrate (the main process did; another schema is refused), registers no replica and holds
no lease: it decides nothing. Its shedding bound sees the backlog on the database, re-read every
`refresh_s` (what any replica processed counts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.errors import ConfigError
from remediator.store import postgres_schema
from remediator.store.admission import Accept
from remediator.store.postgres import create_pool, redact
from remediator.store.postgres_intake import PostgresIntake


class PostgresIntakeOnly(PostgresIntake):
    """`store.Intake` on a database a main process owns (and has migrated)."""

    def __init__(self, pool: asyncpg.Pool, *, max_pending: int, max_backlog: int, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock
        self._max_pending = max_pending
        self._max_backlog = max_backlog
        self._queue: asyncio.Queue[Accept | None] = asyncio.Queue()
        self._new_payloads = asyncio.Event()
        self._backlog = 0
        self._deferred_waiting = 0
        self._waiting_accepts = 0
        self._claims_full = False
        self.commits = 0
        self.accepted = 0

    async def _refresh_backlog(self) -> None:
        """Only the backlog: shedding is all this process uses it for (no deferral counts)."""
        self._backlog = await self._count_backlog()

    async def _refresh_forever(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self._refresh_backlog()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        password: str | None = None,
        pool_size: int = 3,
        connect_timeout_s: float = 10.0,
        max_pending: int = 2000,
        max_backlog: int = 1_000_000,
        refresh_s: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> AsyncIterator[PostgresIntakeOnly]:
        where = redact(url)
        pool = await create_pool(
            url,
            password=password,
            max_size=pool_size,
            connect_timeout_s=connect_timeout_s,
            application_name="remediator-intake",
        )
        try:
            async with pool.acquire() as conn:
                version = await postgres_schema.current_version(conn)
            if version != postgres_schema.LATEST:
                raise ConfigError(
                    f"journal {where}: schema version {version}, this intake writes version"
                    f" {postgres_schema.LATEST} (the main process migrates it before it starts the intake)"
                )
            intake = cls(pool, max_pending=max_pending, max_backlog=max_backlog, clock=clock)
            await intake._refresh_backlog()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(intake._writer_loop(), name="intake-writer")
                refresh = tg.create_task(intake._refresh_forever(refresh_s), name="intake-backlog")
                try:
                    yield intake
                finally:
                    # Accepts queued before the close are committed: what was acknowledged is stored.
                    intake._queue.put_nowait(None)
                    refresh.cancel()
        finally:
            await pool.close()
