"""Rows for one statement from many callers, written by one job of the single writer.

A storm's dry-run executions finish within a few turns of the event loop, and each one finishing
in a job of its own cost three statements (savepoint, statement, release): more than the decisions
that made them. Here a row added while a job for the statement is still queued rides on that job,
and the job writes all its rows with one `executemany`. The rows are taken on the event loop just
before the transaction (`take`), so the writer's thread reads a list the loop no longer appends to.
Each caller still returns only once its own row is committed, and gets the error its own job would have got:
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
from typing import Any, Protocol

from remediator.store.records import JournalUnavailable

Row = tuple[Any, ...]


class Submit(Protocol):
    """The writer's `_submit`: a job for the next transaction, and what to take just before it."""

    def __call__(
        self, fn: Callable[[sqlite3.Connection], Any], *, take: Callable[[], None] | None = ...
    ) -> Awaitable[Any]: ...


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
        rows: list[Row] = []
        """What the writer's thread reads: filled on the loop (`take`) before the transaction starts."""

        def take() -> None:
            # On the loop, just before the transaction: the rows added until now are this job's.
            taken.extend(self._rows)
            self._rows.clear()
            rows.extend(row for row, _ in taken)

        def job(db: sqlite3.Connection) -> list[BaseException | int]:
            return self._write(db, rows)

        def done(task: asyncio.Task[list[BaseException | int]]) -> None:
            if not taken:  # the job never ran (the journal closed first): its rows fail with it
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

        task = asyncio.ensure_future(self._submit(job, take=take))
        task.add_done_callback(done)

    def _write(self, db: sqlite3.Connection, rows: list[Row]) -> list[BaseException | int]:
        db.execute("SAVEPOINT rows")
        try:
            changed = db.executemany(self._sql, rows).rowcount
        except sqlite3.Error:
            changed = None
        if changed is not None and (changed == 0 or len(rows) == 1):
            db.execute("RELEASE rows")
            return [changed] * len(rows)
        if changed is not None and self._keyed and changed == len(rows):
            db.execute("RELEASE rows")
            return [1] * len(rows)
        # A row failed, or some changed nothing: which ones, only writing them one by one says.
        db.execute("ROLLBACK TO rows")
        db.execute("RELEASE rows")
        return [self._write_one(db, row) for row in rows]

    def _write_one(self, db: sqlite3.Connection, row: Row) -> BaseException | int:
        try:
            return db.execute(self._sql, row).rowcount
        except sqlite3.Error as e:  # what the writer makes of a job's database error
            return JournalUnavailable(f"journal write failed: {e}")
