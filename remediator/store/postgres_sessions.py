"""Console sessions on the shared journal (see `console_sessions.py`). A mixin of `PostgresJournal`."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from remediator.store.console_sessions import COLUMNS, ConsoleSession, session_from_row


class PostgresConsoleSessions:
    _pool: asyncpg.Pool

    async def save_console_session(self, session: ConsoleSession, *, keep: int) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO console_sessions(digest, name, scope, created_at, last_seen)"
                " VALUES ($1, $2, $3, $4, $5)",
                session.digest,
                session.name,
                session.scope,
                session.created_at.timestamp(),
                session.last_seen.timestamp(),
            )
            await conn.execute(
                "DELETE FROM console_sessions WHERE digest NOT IN"
                " (SELECT digest FROM console_sessions ORDER BY last_seen DESC LIMIT $1)",
                keep,
            )

    async def console_session(self, digest: str) -> ConsoleSession | None:
        r = await self._pool.fetchrow(
            f"SELECT {COLUMNS} FROM console_sessions WHERE digest = $1",
            digest,
        )
        if r is None:
            return None
        return session_from_row(r)

    async def touch_console_session(self, digest: str, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE console_sessions SET last_seen = $2 WHERE digest = $1", digest, at.timestamp()
        )

    async def end_console_session(self, digest: str) -> None:
        await self._pool.execute("DELETE FROM console_sessions WHERE digest = $1", digest)
