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
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.errors import ConfigError
from remediator.store import sqlite_schema
from remediator.store.sqlite_writer import SqliteWriter, close_writer, connect_writer, set_pragmas

BUSY_POLL_MS = 2
"""SQLite's busy handler sleeps 1, 2, 5, 10... up to 100 ms between tries: a writer that finds the lock
taken by the main process's decisions would sleep long past their commit. This process waits in
short turns instead (each ~3 ms, in the writer's thread), for `busy_timeout_ms` in all."""


class SqliteIntake(SqliteWriter):
    """`store.Intake` on a journal file another process owns (and has migrated)."""

    _busy_s = 5.0

    def _begin(self, db: sqlite3.Connection) -> None:
        # In the writer's thread: the waiting blocks that thread, not the event loop.
        deadline = time.monotonic() + self._busy_s
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise

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
        writer, thread = await connect_writer(f"file:{path}?mode=rw", uri=True)

        def prepare(db: sqlite3.Connection) -> int:
            set_pragmas(db, synchronous=synchronous, busy_timeout_ms=BUSY_POLL_MS)
            return sqlite_schema.current_version(db)

        try:
            version = await asyncio.get_running_loop().run_in_executor(thread, prepare, writer)
            latest = sqlite_schema.LATEST
            if version != latest:
                raise ConfigError(
                    f"journal {str(path)!r}: schema version {version}, this intake writes version {latest}"
                    " (the main process migrates the file before it starts the intake process)"
                )
            reader = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        except BaseException:
            await close_writer(writer, thread)
            raise
        intake = cls(
            writer, reader, thread=thread, max_pending=max_pending, max_backlog=max_backlog, clock=clock
        )
        intake._busy_s = busy_timeout_ms / 1000
        async with intake._serving(load=intake._load_backlog, name="intake-writer"):
            yield intake
