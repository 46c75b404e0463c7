"""Rows for one statement from many callers, written by one job of the single writer.

A storm's dry-run executions finish within a few turns of the event loop, and each one finishing
in a job of its own cost three round trips to the SQLite thread (savepoint, statement, release):
more than the decisions that made them. Here a row added while a job for the statement is still
queued rides on that job, and the job writes all its rows with one `executemany`. Each caller
still returns only once its own row is committed, and gets the error its own job would have got:
when the `executemany` fails, the rows are written again one by one, so one bad row fails only its
caller. A row never overtakes a write of its own caller (each caller awaits its writes), so riding
on an earlier job only reorders writes of independent callers within the journal's order.

Each caller learns how many rows its own row changed (a conditional UPDATE that found its row no
longer in the state it expects changed none): from the `executemany`'s total when that is conclusive
(none changed, or, for a `keyed` statement that changes at most one row per row, all did), else by
writing the rows again one by one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite

from remediator.store.records import JournalUnavailable

Row = tuple[Any, ...]
Submit = Callable[[Callable[[aiosqlite.Connection], Awaitable[Any]]], Awaitable[Any]]


class RowBatch:
    def __init__(self, sql: str, submit: Submit, *, keyed: bool = False) -> None:
        """`keyed`: each row changes at most one row (its WHERE names a key)."""
        self._sql = sql
        self._submit = submit
        self._keyed = keyed
        self._rows: list[tuple[Row, asyncio.Future[int]]] = []
        """Rows added since the last job took its rows: the queued job (there is one) takes them."""

    async def write(self, row: Row) -> int:
        """Write `row` once its job commits: how many rows it changed."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._rows.append((row, fut))
        if len(self._rows) == 1:
            self._start_job()
        return await fut

    def _start_job(self) -> None:
        taken: list[tuple[Row, asyncio.Future[int]]] = []

        async def job(db: aiosqlite.Connection) -> list[BaseException | int]:
            taken.extend(self._rows)
            self._rows.clear()
            return await self._write(db, [row for row, _ in taken])

        def done(task: asyncio.Task[list[BaseException | int]]) -> None:
            if not taken:  # the job never ran (its transaction failed first): its rows fail with it
                taken.extend(self._rows)
                self._rows.clear()
            if task.cancelled():
                results: list[BaseException | int] = [JournalUnavailable("journal closed")] * len(taken)
            elif (error := task.exception()) is not None:
                results = [error] * len(taken)
            else:
                results = task.result()
            for (_, fut), result in zip(taken, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

        task = asyncio.ensure_future(self._submit(job))
        task.add_done_callback(done)

    async def _write(self, db: aiosqlite.Connection, rows: list[Row]) -> list[BaseException | int]:
        await db.execute("SAVEPOINT rows")
        try:
            changed = (await db.executemany(self._sql, rows)).rowcount
        except sqlite3.Error:
            changed = None
        if changed is not None and (changed == 0 or len(rows) == 1):
            await db.execute("RELEASE rows")
            return [changed] * len(rows)
        if changed is not None and self._keyed and changed == len(rows):
            await db.execute("RELEASE rows")
            return [1] * len(rows)
        # A row failed, or some changed nothing: which ones, only writing them one by one says.
        await db.execute("ROLLBACK TO rows")
        await db.execute("RELEASE rows")
        return [await self._write_one(db, row) for row in rows]

    async def _write_one(self, db: aiosqlite.Connection, row: Row) -> BaseException | int:
        try:
            return (await db.execute(self._sql, row)).rowcount
        except sqlite3.Error as e:  # what the writer makes of a job's database error
            return JournalUnavailable(f"journal write failed: {e}")
