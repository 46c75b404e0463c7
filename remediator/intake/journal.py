"""The intake process's journal: a webhooks-only view of the daemon's (see store/sqlite_intake.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from remediator.clock import Clock
from remediator.config import Settings
from remediator.errors import ConfigError
from remediator.store.sqlite_intake import SqliteIntake


@contextlib.asynccontextmanager
async def open_intake_journal(settings: Settings, *, clock: Clock) -> AsyncIterator[SqliteIntake]:
    j = settings.journal
    if j.url is not None:
        raise ConfigError("intake.processes: 1 needs the SQLite journal (journal.path), not journal.url")
    async with SqliteIntake.open(
        Path(j.path),
        synchronous=j.synchronous,
        max_pending=j.max_pending_writes,
        max_backlog=j.max_backlog_payloads,
        clock=clock,
    ) as journal:
        yield journal
