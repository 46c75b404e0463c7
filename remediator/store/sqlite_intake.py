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
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.errors import ConfigError
from remediator.store import sqlite_schema
from remediator.store.sqlite_writer import SqliteWriter, set_pragmas

BUSY_POLL_MS = 2
"""SQLite's busy handler sleeps 1, 2, 5, 10... up to 100 ms between tries: a writer that finds the lock
taken by the main process's decisions would sleep long past their commit. This process waits in
short turns instead (each ~3 ms), for `busy_timeout_ms` in all."""


class SqliteIntake(SqliteWriter):
    """`store.Intake` on a journal file another process owns (and has migrated)."""

    _busy_s = 5.0

    async def _begin(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_s
        while True:
            try:
                await self._w.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or loop.time() >= deadline:
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
        writer = await aiosqlite.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
        try:
            await set_pragmas(writer, synchronous=synchronous, busy_timeout_ms=BUSY_POLL_MS)
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
        intake._busy_s = busy_timeout_ms / 1000
        async with intake._serving(load=intake._load_backlog, name="intake-writer"):
            yield intake
