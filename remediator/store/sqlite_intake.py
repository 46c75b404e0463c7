"""The intake process's journal: only webhook writes (accept, accept_once), the backlog and the probe.

The intake process (`intake.processes: 1`) writes payloads into the same SQLite file the main process
decides from; everything else stays the main process's. So this opens the file without migrating it
(the main process did, before it started this one; an older schema is refused), without loading any
pipeline counter, and with the same group-committed writer: payload ids come from inside the write
transaction (sqlite_writer.py), so both processes may insert payloads. The main process tells this one
its backlog now and then (`backlog_told`), so shedding (`journal.max_backlog_payloads`) sees the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.errors import ConfigError
from remediator.store import sqlite_schema
from remediator.store.sqlite_writer import SqliteWriter


class SqliteIntake(SqliteWriter):
    """`store.Intake` on a journal file another process owns (and has migrated)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        synchronous: str = "full",
        max_pending: int = 2000,
        max_backlog: int = 1_000_000,
        busy_timeout_ms: int = 5000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> AsyncIterator[SqliteIntake]:
        writer = await aiosqlite.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            await writer.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            version = await sqlite_schema.current_version(writer)
            latest = sqlite_schema.LATEST
            if version != latest:
                raise ConfigError(
                    f"journal {str(path)!r}: schema version {version}, this intake writes version {latest}"
                    " (the main process migrates the file before it starts the intake process)"
                )
            reader = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        intake = cls(writer, reader, max_pending=max_pending, max_backlog=max_backlog, clock=clock)
        try:
            await intake._load_backlog()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(intake._writer_loop(), name="intake-writer")
                try:
                    yield intake
                finally:
                    # Writes queued before the close are committed: what was acknowledged is on disk.
                    intake._queue.put_nowait(None)
        finally:
            await reader.close()
            await writer.close()
