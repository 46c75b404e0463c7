"""The intake process's journal: a webhooks-only view of the daemon's.

SQLite (store/sqlite_intake.py): payload ids from inside the write transaction, and the main process
woken over the channel after each commit (`Wakes`). PostgreSQL (store/postgres_intake_only.py): a
small pool, and the main process woken by the NOTIFY in the insert itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from remediator.clock import Clock
from remediator.config import Settings
from remediator.store import Intake
from remediator.store.sqlite_intake import SqliteIntake


@runtime_checkable
class Wakes(Protocol):
    """A journal whose commits the main process must hear of (SQLite has no NOTIFY)."""

    def before_commit(self, hook: Callable[[int], None]) -> None: ...

    def on_commit(self, hook: Callable[[int], None]) -> None: ...

    def queued(self) -> int: ...

    def backlog_told(self, backlog: int, *, as_of: int) -> None: ...


@contextlib.asynccontextmanager
async def open_intake_journal(settings: Settings, *, clock: Clock) -> AsyncIterator[Intake]:
    j = settings.journal
    if j.url is not None:
        # Imported here: a SQLite daemon does not pay for loading the PostgreSQL driver.
        from remediator.store.postgres_intake_only import PostgresIntakeOnly

        password = j.password.resolve() if j.password is not None else None
        async with PostgresIntakeOnly.open(
            j.url,
            password=password.reveal() if password is not None else None,
            max_pending=j.max_pending_writes,
            max_backlog=j.max_backlog_payloads,
            clock=clock,
        ) as shared:
            yield shared
        return
    async with SqliteIntake.open(
        Path(j.path),
        synchronous=j.synchronous,
        max_pending=j.max_pending_writes,
        max_backlog=j.max_backlog_payloads,
        clock=clock,
    ) as journal:
        yield journal
