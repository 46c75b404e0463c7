"""The SQLite journal's single writer: every write goes through one task, in group commits.

Webhook payloads queued while a transaction is being committed share the next one (group commit),
so with `synchronous=FULL` N concurrent webhooks cost one fsync, not N. Ids are assigned here, not
by SQLite, because this process is the journal's only writer; that keeps batch inserts to one
`executemany` each. The intake (accept, backlog) rides on the same writer, because its payloads are
what a commit groups. `SqliteJournal` and its record classes build on this base: they write with
`_submit` (a job run in the next transaction) and read on `_r` (the read-only connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiosqlite

from remediator.clock import Clock
from remediator.model import PayloadId
from remediator.store.admission import Accept, Admission
from remediator.store.records import JournalUnavailable

T = TypeVar("T")
_PROBE_ID = "remediator:readiness-probe"
"""The `deliveries` row readiness rewrites (aged out with the others; no sender uses this id)."""

_MAX_OPS_PER_COMMIT = 512


@dataclass
class _Job:
    fn: Callable[[aiosqlite.Connection], Awaitable[Any]]
    future: asyncio.Future[Any]
    after_commit: list[Callable[[], None]] = field(default_factory=list)


class SqliteWriter(Admission):
    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        *,
        max_pending: int,
        max_backlog: int,
        clock: Clock,
    ) -> None:
        self._w = writer
        self._r = reader
        self._clock = clock
        self._max_pending = max_pending
        self._max_backlog = max_backlog
        self._queue: asyncio.Queue[Accept | _Job | None] = asyncio.Queue()
        self._new_payloads = asyncio.Event()
        self._backlog = 0
        self._waiting_accepts = 0
        self._next: dict[str, int] = {}
        self.commits = 0
        """Transactions committed; with `accepted` it shows the group-commit effect."""
        self.accepted = 0

    def _take_ids(self, table: str, n: int) -> int:
        first = self._next[table]
        self._next[table] = first + n
        return first

    # -- the writer --------------------------------------------------------------------------------

    async def _writer_loop(self) -> None:
        """Take everything queued (up to a bound) into one transaction; stop at the close sentinel."""
        while True:
            first = await self._queue.get()
            if first is None:
                return
            # One turn of the event loop before draining: writes submitted by tasks that are ready
            # now (executions finishing together, webhooks arriving together) share this commit.
            await asyncio.sleep(0)
            ops = [first]
            closing = False
            while len(ops) < _MAX_OPS_PER_COMMIT and not self._queue.empty():
                op = self._queue.get_nowait()
                if op is None:
                    closing = True
                    break
                ops.append(op)
            await self._commit(ops)
            if closing:
                return

    def _save_counters(self) -> Any:
        """In-memory state a transaction changes (the next ids): restored when it rolls back."""
        return dict(self._next)

    def _restore_counters(self, saved: Any) -> None:
        self._next = saved

    async def _commit(self, ops: list[Accept | _Job]) -> None:
        saved = self._save_counters()
        accepts = [op for op in ops if isinstance(op, Accept)]
        results: list[tuple[asyncio.Future[Any], Any]] = []
        try:
            await self._w.execute("BEGIN IMMEDIATE")
            if accepts:
                accepts = await self._drop_repeated_deliveries(accepts, results)
                first = self._take_ids("payloads", len(accepts))
                rows = [(first + i, a.source, a.received_at, a.body) for i, a in enumerate(accepts)]
                await self._w.executemany(
                    "INSERT INTO payloads(id, source, received_at, body) VALUES (?, ?, ?, ?)", rows
                )
                results.extend((a.future, PayloadId(first + i)) for i, a in enumerate(accepts))
            for op in ops:
                if isinstance(op, _Job):
                    results.append(await self._run_job(op))
            await self._w.execute("COMMIT")
        except Exception as e:
            self._restore_counters(saved)
            with contextlib.suppress(Exception):
                await self._w.execute("ROLLBACK")
            err = JournalUnavailable(f"journal write failed: {e}")
            for op in ops:
                if not op.future.done():
                    op.future.set_exception(err)
            return
        self.commits += 1
        if accepts:
            self.accepted += len(accepts)
            self._backlog += len(accepts)
            self._new_payloads.set()
        for op in ops:
            if isinstance(op, _Job):
                for hook in op.after_commit:
                    hook()
        for fut, value in results:
            if isinstance(value, BaseException):
                if not fut.done():
                    fut.set_exception(value)
            elif not fut.done():
                fut.set_result(value)

    async def _drop_repeated_deliveries(
        self, accepts: list[Accept], results: list[tuple[asyncio.Future[Any], Any]]
    ) -> list[Accept]:
        """The accepts to write; the journal answers repeated deliveries here (see SqliteJournal)."""
        return accepts

    async def _run_job(self, job: _Job) -> tuple[asyncio.Future[Any], Any]:
        """Each job in its own savepoint: one failing job must not roll back the others' payloads."""
        await self._w.execute("SAVEPOINT job")
        saved = self._save_counters()
        try:
            value = await job.fn(self._w)
        except Exception as e:
            self._restore_counters(saved)
            await self._w.execute("ROLLBACK TO job")
            await self._w.execute("RELEASE job")
            job.after_commit.clear()
            if isinstance(e, sqlite3.Error):
                # The database refused (locked, disk full, I/O): callers retry JournalUnavailable.
                return job.future, JournalUnavailable(f"journal write failed: {e}")
            return job.future, e
        await self._w.execute("RELEASE job")
        return job.future, value

    async def _submit(
        self,
        fn: Callable[[aiosqlite.Connection], Awaitable[T]],
        *,
        after_commit: Callable[[], None] | None = None,
    ) -> T:
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, fut, [after_commit] if after_commit else []))
        return await fut

    # -- intake ------------------------------------------------------------------------------------

    def _enqueue_accept(self, accept: Accept) -> None:
        self._queue.put_nowait(accept)

    def backlog(self) -> int:
        return self._backlog

    async def probe_write(self) -> None:
        self._refuse_if_shedding()  # readiness says what a webhook would get

        async def job(db: aiosqlite.Connection) -> None:
            # A row that really dirties a page: an empty transaction would commit on a full disk.
            await db.execute(
                "INSERT OR REPLACE INTO deliveries(id, at) VALUES (?, ?)",
                (_PROBE_ID, self._clock.now().timestamp()),
            )

        await self._submit(job)

    def intake_waiting(self) -> int:
        return self._waiting_accepts

    async def wait_for_payloads(self, timeout_s: float) -> None:
        if self._backlog:
            return
        self._new_payloads.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._new_payloads.wait()
