"""Console sessions in the SQLite journal (see `console_sessions.py`). A base of `SqliteJournal`."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from remediator.store.console_sessions import COLUMNS, ConsoleSession, session_from_row
from remediator.store.sqlite_writer import SqliteWriter


class ConsoleSessionRecords(SqliteWriter):
    async def save_console_session(self, session: ConsoleSession, *, keep: int) -> None:
        row = (
            session.digest,
            session.name,
            session.scope,
            session.created_at.timestamp(),
            session.last_seen.timestamp(),
        )

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO console_sessions(digest, name, scope, created_at, last_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                row,
            )
            db.execute(
                "DELETE FROM console_sessions WHERE digest NOT IN"
                " (SELECT digest FROM console_sessions ORDER BY last_seen DESC LIMIT ?)",
                (keep,),
            )

        await self._submit(job)

    async def console_session(self, digest: str) -> ConsoleSession | None:
        rows = list(
            await self._r.execute_fetchall(
                f"SELECT {COLUMNS} FROM console_sessions WHERE digest = ?",
                (digest,),
            )
        )
        if not rows:
            return None
        r = rows[0]
        return session_from_row(r)

    async def touch_console_session(self, digest: str, at: datetime) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute("UPDATE console_sessions SET last_seen = ? WHERE digest = ?", (at.timestamp(), digest))

        await self._submit(job)

    async def end_console_session(self, digest: str) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM console_sessions WHERE digest = ?", (digest,))

        await self._submit(job)
