"""The SQLite journal's single writer: every write goes through one task, in group commits.

Webhook payloads queued while a transaction is being committed share the next one (group commit),
so with `synchronous=FULL` N concurrent webhooks cost one fsync, not N. Ids are assigned here, not
by SQLite, which keeps batch inserts to one `executemany` each: the pipeline's tables from counters
in memory (this process is their only writer), payloads from `MAX(id)` read inside the write
transaction, because a second process may write payloads too (the intake process, `intake.processes:
1`). The write lock makes payload ids dense and committed in order, so the highest id any process
committed says how many payloads exist: the backlog is counted from it (`_saw_payloads`). The intake
(accept, backlog) rides on the same writer, because its payloads are what a commit groups.
`SqliteJournal`, `SqliteIntake` and their record classes build on this base: they write with
`_submit` (a job run in the next transaction) and read on `_r` (the read-only connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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


async def set_pragmas(db: aiosqlite.Connection, *, synchronous: str, busy_timeout_ms: int) -> None:
    """What every connection that writes the journal sets: WAL, the configured durability, the wait for
    another writer's lock."""
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    await db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


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
        self._seen_payload = 0
        """The highest payload id counted into `_backlog` (committed by this process or another)."""
        self._waiting_accepts = 0
        self._waiting_elsewhere = 0
        """Webhook writes another process (the intake process) says wait for the write lock."""
        self._on_commit: Callable[[int], None] | None = None
        self._before_commit: Callable[[int], None] | None = None
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

    @contextlib.asynccontextmanager
    async def _serving(self, *, load: Callable[[], Awaitable[None]], name: str) -> AsyncIterator[None]:
        """Load the counters (`load`), run the writer task while the caller's block runs, then close
        both connections. Writes queued before the close are committed: what was acknowledged is on
        disk."""
        try:
            await load()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._writer_loop(), name=name)
                try:
                    yield
                finally:
                    self._queue.put_nowait(None)
        finally:
            await self._r.close()
            await self._w.close()

    def _save_counters(self) -> Any:
        """In-memory state a transaction changes (the next ids): restored when it rolls back."""
        return dict(self._next)

    def _restore_counters(self, saved: Any) -> None:
        self._next = saved

    async def _commit(self, ops: list[Accept | _Job]) -> None:
        saved = self._save_counters()
        accepts = [op for op in ops if isinstance(op, Accept)]
        results: list[tuple[asyncio.Future[Any], Any]] = []
        if accepts and self._before_commit is not None:
            self._before_commit(len(accepts))
        highest = 0
        try:
            await self._begin()
            if accepts:
                accepts = await self._drop_repeated_deliveries(accepts, results)
                # Under the write lock, so another process writing payloads cannot take the same ids.
                cur = await self._w.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM payloads")
                row = await cur.fetchone()
                first = int(row[0]) if row is not None else 1
                rows = [(first + i, a.source, a.received_at, a.body) for i, a in enumerate(accepts)]
                await self._w.executemany(
                    "INSERT INTO payloads(id, source, received_at, body) VALUES (?, ?, ?, ?)", rows
                )
                results.extend((a.future, PayloadId(first + i)) for i, a in enumerate(accepts))
                highest = first + len(accepts) - 1 if accepts else 0
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
        if highest:
            self._saw_payloads(highest)
            if self._on_commit is not None:
                self._on_commit(highest)
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

    async def _begin(self) -> None:
        """Take the write lock (waiting in SQLite's busy handler, `busy_timeout`, if another has it)."""
        await self._w.execute("BEGIN IMMEDIATE")

    async def _drop_repeated_deliveries(
        self, accepts: list[Accept], results: list[tuple[asyncio.Future[Any], Any]]
    ) -> list[Accept]:
        """Answer None to accepts whose delivery id was seen within its time to live (or earlier in
        this commit) and remember the ids of the others, in this transaction. Returns the others."""
        keyed = [a for a in accepts if a.delivery_id is not None]
        if not keyed:
            return accepts
        now = self._clock.now().timestamp()
        ttl = max(a.ttl_s for a in keyed)
        seen = await self._seen_deliveries(self._w, [a.delivery_id for a in keyed if a.delivery_id], ttl, now)
        fresh: list[Accept] = []
        for a in accepts:
            if a.delivery_id is not None and a.delivery_id in seen:
                results.append((a.future, None))
                continue
            if a.delivery_id is not None:
                seen.add(a.delivery_id)
            fresh.append(a)
        ids = [a.delivery_id for a in fresh if a.delivery_id is not None]
        if ids:
            await self._remember_deliveries(self._w, ids, ttl, now)
        return fresh

    @staticmethod
    async def _seen_deliveries(
        db: aiosqlite.Connection, ids: Sequence[str], ttl_s: float, now: float
    ) -> set[str]:
        """Which of these delivery ids were accepted within their time to live."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = await db.execute_fetchall(
            f"SELECT id FROM deliveries WHERE id IN ({marks}) AND at > ?", (*ids, now - ttl_s)
        )
        return {r[0] for r in rows}

    @staticmethod
    async def _remember_deliveries(
        db: aiosqlite.Connection, ids: Sequence[str], ttl_s: float, now: float
    ) -> None:
        await db.executemany(
            "INSERT INTO deliveries(id, at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at",
            [(i, now) for i in ids],
        )
        # Forgetting is cheap with the index, and bounded by what arrived since the last time.
        await db.execute("DELETE FROM deliveries WHERE at <= ?", (now - ttl_s,))

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
        # Below zero for a moment when this process processed payloads another wrote before it heard
        # of them (a wake-up lost): the next `_saw_payloads` puts it right.
        return max(0, self._backlog)

    # -- payloads written by another process (the intake process) -----------------------------------

    async def _load_backlog(self) -> None:
        """The backlog and the highest payload id, from one snapshot (another process may be writing)."""
        rows = await self._r.execute_fetchall(
            "SELECT (SELECT COUNT(*) FROM payloads WHERE processed_at IS NULL),"
            " (SELECT COALESCE(MAX(id), 0) FROM payloads)"
        )
        backlog, highest = next(iter(rows))
        self._backlog, self._seen_payload = int(backlog), int(highest)
        if self._backlog:
            self._new_payloads.set()

    def _saw_payloads(self, highest: int) -> None:
        """Payloads up to id `highest` are committed, by this process or another: the ones not counted
        yet join the backlog. Exact because ids are dense and committed in order (see the module)."""
        if highest > self._seen_payload:
            self._backlog += highest - self._seen_payload
            self._seen_payload = highest
            self._new_payloads.set()

    def payloads_written(self, highest: int, *, waiting: int = 0) -> None:
        """Another process committed payloads up to id `highest` (0: none yet), and `waiting` more of
        its webhook writes wait for the write lock (the processor keeps its batches small then)."""
        self._waiting_elsewhere = waiting
        self._saw_payloads(highest)

    async def poll_payloads(self) -> None:
        """Count what another process wrote, from the file: a lost wake-up strands nothing."""
        rows = await self._r.execute_fetchall("SELECT COALESCE(MAX(id), 0) FROM payloads")
        self._saw_payloads(int(next(iter(rows))[0]))

    def backlog_mark(self) -> tuple[int, int]:
        """(backlog, the highest payload id counted in it): what the intake process sheds by."""
        return self.backlog(), self._seen_payload

    def backlog_told(self, backlog: int, *, as_of: int) -> None:
        """The processing process counts `backlog` payloads up to id `as_of`: this process's own
        commits after that id are not in it yet."""
        self._backlog = backlog + max(0, self._seen_payload - as_of)

    def on_commit(self, hook: Callable[[int], None]) -> None:
        """Call `hook(highest payload id)` after each commit that wrote payloads (wakes another process)."""
        self._on_commit = hook

    def before_commit(self, hook: Callable[[int], None]) -> None:
        """Call `hook(number of webhook writes)` before taking the write lock for them."""
        self._before_commit = hook

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
        return self._waiting_accepts + self._waiting_elsewhere

    def queued(self) -> int:
        """Writes queued for the next commit (webhooks' and others')."""
        return self._queue.qsize()

    async def wait_for_payloads(self, timeout_s: float) -> None:
        if self._backlog > 0:
            return
        self._new_payloads.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._new_payloads.wait()
