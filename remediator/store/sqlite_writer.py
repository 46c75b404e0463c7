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
`_submit` (a job run in the next transaction) and read on `_r` (the read-only, aiosqlite connection).

One call into one thread per transaction. The writer connection is a plain `sqlite3.Connection`
used only from the writer's own thread (`_thread`, one worker): a commit is prepared on the event
loop, then the whole transaction (BEGIN IMMEDIATE, the payloads and their delivery ids, each job in
its savepoint, COMMIT) runs in one call there, and the futures and `after_commit` hooks are resolved
back on the loop. The write lock is held for the time SQLite takes, not for as many trips through a
busy event loop as the transaction has statements (one per statement with aiosqlite: each waited
for a turn of the loop, and another process's webhooks waited for the lock meanwhile).

What a job may touch, since it runs in the writer's thread while the loop goes on:
- its own inputs, captured when it was submitted: immutable values (tuples, frozen dataclasses,
  numbers, strings), or lists nobody else holds. Never state the loop changes (a list callers append
  to, a dict of guards' state): the loop may change it halfway through the job. A job that collects
  such state says so with `take`, a function run on the loop just before the transaction (RowBatch);
- the writer's counters (`_next` through `_take_ids`, and a subclass's `_save_counters` state such as
  `_deferred_waiting`): only jobs change them, so only this thread writes them (the loop sets them
  before the first transaction, when the journal opens, and may read them); they are saved before
  each transaction and each job, and restored here when it rolls back;
- the `db` it is given, and nothing else of the writer (no futures, no event loop, no clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import aiosqlite

from remediator.clock import Clock
from remediator.model import PayloadId, Source
from remediator.store.admission import Accept, Admission
from remediator.store.records import JournalUnavailable

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
"""A write run in the writer's thread, inside the next transaction (see the module for what it may touch)."""

_PROBE_ID = "remediator:readiness-probe"
"""The `deliveries` row readiness rewrites (aged out with the others; no sender uses this id)."""

_MAX_OPS_PER_COMMIT = 512


def set_pragmas(db: sqlite3.Connection, *, synchronous: str, busy_timeout_ms: int) -> None:
    """What every connection that writes the journal sets: WAL, the configured durability, the wait for
    another writer's lock."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


async def connect_writer(
    database: str, *, uri: bool = False
) -> tuple[sqlite3.Connection, ThreadPoolExecutor]:
    """A writer connection and the one thread that uses it (the connection is opened there too)."""
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
    try:
        db = await asyncio.get_running_loop().run_in_executor(
            thread,
            partial(sqlite3.connect, database, uri=uri, isolation_level=None, check_same_thread=False),
        )
    except BaseException:
        thread.shutdown(wait=False)
        raise
    return db, thread


async def close_writer(db: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
    """Close the connection in its thread (after whatever that thread is still running), then the thread."""
    try:
        await asyncio.get_running_loop().run_in_executor(thread, db.close)
    finally:
        thread.shutdown(wait=False)


@dataclass
class _Job:
    fn: Job[Any]
    future: asyncio.Future[Any]
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    take: Callable[[], None] | None = None
    """Run on the loop just before the transaction: moves loop-side state into the job's own inputs."""


@dataclass(frozen=True, slots=True)
class _Payload:
    """An accept's row, as the writer's thread sees it (no future)."""

    source: Source
    received_at: float
    body: bytes
    delivery_id: str | None
    ttl_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class _Committed:
    """What the writer's thread hands back from one transaction."""

    payload_ids: tuple[PayloadId | None, ...]
    """Per accept, in order: its id, or None for a repeated delivery."""
    results: tuple[tuple[bool, Any], ...]
    """Per job, in order: (True, its value) or (False, the exception its caller gets)."""
    highest: int
    """The highest payload id written (0: none)."""
    held_s: float
    """From the write lock taken to the commit done."""


class SqliteWriter(Admission):
    def __init__(
        self,
        writer: sqlite3.Connection,
        reader: aiosqlite.Connection,
        *,
        thread: ThreadPoolExecutor,
        max_pending: int,
        max_backlog: int,
        clock: Clock,
    ) -> None:
        self._w = writer
        self._thread = thread
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
        self.lock_held_s = 0.0
        """Time the committed transactions held the write lock, in all (with `commits`: the mean)."""

    def _take_ids(self, table: str, n: int) -> int:
        """The next `n` ids of `table`: called by jobs, in the writer's thread (see the module)."""
        first = self._next[table]
        self._next[table] = first + n
        return first

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(writer connection)` in the writer's thread, between transactions."""
        db = self._w
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, db)

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
            try:
                await self._r.close()
            finally:
                await close_writer(self._w, self._thread)

    def _save_counters(self) -> Any:
        """In-memory state a transaction changes (the next ids): restored when it rolls back."""
        return dict(self._next)

    def _restore_counters(self, saved: Any) -> None:
        self._next = saved

    async def _commit(self, ops: list[Accept | _Job]) -> None:
        """Prepare on the loop, run the transaction in one call to the writer's thread, answer here."""
        accepts = [op for op in ops if isinstance(op, Accept)]
        jobs = [op for op in ops if isinstance(op, _Job)]
        if accepts and self._before_commit is not None:
            self._before_commit(len(accepts))
        for job in jobs:
            if job.take is not None:
                job.take()
        transaction = partial(
            self._transaction,
            self._w,
            payloads=tuple(
                _Payload(a.source, a.received_at, a.body, a.delivery_id, a.ttl_s) for a in accepts
            ),
            jobs=tuple(job.fn for job in jobs),
            now=self._clock.now().timestamp(),
        )
        done = asyncio.get_running_loop().run_in_executor(self._thread, transaction)
        # Answered from the thread's result even if this task is cancelled meanwhile (the journal
        # closing under it): what the thread committed is committed.
        done.add_done_callback(lambda f: self._answer(f, accepts, jobs))
        await asyncio.wait([done])

    def _answer(self, done: asyncio.Future[_Committed], accepts: list[Accept], jobs: list[_Job]) -> None:
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            err = JournalUnavailable(f"journal write failed: {error}" if error else "journal closed")
            for fut in [a.future for a in accepts] + [j.future for j in jobs]:
                if not fut.done():
                    fut.set_exception(err)
            return
        committed = done.result()
        self.commits += 1
        self.lock_held_s += committed.held_s
        self.accepted += sum(1 for p in committed.payload_ids if p is not None)
        if committed.highest:
            self._saw_payloads(committed.highest)
            if self._on_commit is not None:
                self._on_commit(committed.highest)
        for job, (ok, _) in zip(jobs, committed.results, strict=True):
            if ok:
                for hook in job.after_commit:
                    hook()
        for accept, payload_id in zip(accepts, committed.payload_ids, strict=True):
            if not accept.future.done():
                accept.future.set_result(payload_id)
        for job, (ok, value) in zip(jobs, committed.results, strict=True):
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    # -- in the writer's thread --------------------------------------------------------------------

    def _transaction(
        self,
        db: sqlite3.Connection,
        *,
        payloads: tuple[_Payload, ...],
        jobs: tuple[Job[Any], ...],
        now: float,
    ) -> _Committed:
        """One transaction, in the writer's thread: rolled back (and the counters restored) on error."""
        saved = self._save_counters()
        try:
            self._begin(db)
            taken = time.perf_counter()
            payload_ids, highest = self._insert_payloads(db, payloads, now) if payloads else ((), 0)
            results = tuple(self._run_job(db, fn) for fn in jobs)
            db.execute("COMMIT")
        except BaseException:
            self._restore_counters(saved)
            if db.in_transaction:
                with contextlib.suppress(Exception):
                    db.execute("ROLLBACK")
            raise
        return _Committed(
            payload_ids=payload_ids,
            results=results,
            highest=highest,
            held_s=time.perf_counter() - taken,
        )

    def _begin(self, db: sqlite3.Connection) -> None:
        """Take the write lock (waiting in SQLite's busy handler, `busy_timeout`, if another has it)."""
        db.execute("BEGIN IMMEDIATE")

    def _insert_payloads(
        self, db: sqlite3.Connection, payloads: Sequence[_Payload], now: float
    ) -> tuple[tuple[PayloadId | None, ...], int]:
        """Insert the payloads not repeated: their ids (None for a repeat) and the highest id (0: none)."""
        fresh = self._fresh_deliveries(db, payloads, now)
        # Under the write lock, so another process writing payloads cannot take the same ids.
        row = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM payloads").fetchone()
        first = int(row[0]) if row is not None else 1
        ids: list[PayloadId | None] = []
        rows: list[tuple[int, Source, float, bytes]] = []
        for p, keep in zip(payloads, fresh, strict=True):
            if keep:
                ids.append(PayloadId(first + len(rows)))
                rows.append((first + len(rows), p.source, p.received_at, p.body))
            else:
                ids.append(None)
        if rows:
            db.executemany("INSERT INTO payloads(id, source, received_at, body) VALUES (?, ?, ?, ?)", rows)
        return tuple(ids), first + len(rows) - 1 if rows else 0

    def _fresh_deliveries(
        self, db: sqlite3.Connection, payloads: Sequence[_Payload], now: float
    ) -> list[bool]:
        """False for payloads whose delivery id was seen within its time to live (or earlier in this
        commit); the ids of the others are remembered, in this transaction."""
        keyed = [p for p in payloads if p.delivery_id is not None]
        if not keyed:
            return [True] * len(payloads)
        ttl = max(p.ttl_s for p in keyed)
        seen = self._seen_deliveries(db, [p.delivery_id for p in keyed if p.delivery_id], ttl, now)
        fresh: list[bool] = []
        ids: list[str] = []
        for p in payloads:
            if p.delivery_id is not None and p.delivery_id in seen:
                fresh.append(False)
                continue
            if p.delivery_id is not None:
                seen.add(p.delivery_id)
                ids.append(p.delivery_id)
            fresh.append(True)
        if ids:
            self._remember_deliveries(db, ids, ttl, now)
        return fresh

    @staticmethod
    def _seen_deliveries(db: sqlite3.Connection, ids: Sequence[str], ttl_s: float, now: float) -> set[str]:
        """Which of these delivery ids were accepted within their time to live."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT id FROM deliveries WHERE id IN ({marks}) AND at > ?", (*ids, now - ttl_s)
        ).fetchall()
        return {r[0] for r in rows}

    @staticmethod
    def _remember_deliveries(db: sqlite3.Connection, ids: Sequence[str], ttl_s: float, now: float) -> None:
        db.executemany(
            "INSERT INTO deliveries(id, at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at",
            [(i, now) for i in ids],
        )
        # Forgetting is cheap with the index, and bounded by what arrived since the last time.
        db.execute("DELETE FROM deliveries WHERE at <= ?", (now - ttl_s,))

    def _run_job(self, db: sqlite3.Connection, fn: Job[Any]) -> tuple[bool, Any]:
        """Each job in its own savepoint: one failing job must not roll back the others' payloads."""
        db.execute("SAVEPOINT job")
        saved = self._save_counters()
        try:
            value = fn(db)
        except Exception as e:
            self._restore_counters(saved)
            db.execute("ROLLBACK TO job")
            db.execute("RELEASE job")
            if isinstance(e, sqlite3.Error):
                # The database refused (locked, disk full, I/O): callers retry JournalUnavailable.
                return False, JournalUnavailable(f"journal write failed: {e}")
            return False, e
        db.execute("RELEASE job")
        return True, value

    # -- on the loop -------------------------------------------------------------------------------

    async def _submit(
        self,
        fn: Job[T],
        *,
        after_commit: Callable[[], None] | None = None,
        take: Callable[[], None] | None = None,
    ) -> T:
        """Run `fn` in the next transaction (in the writer's thread); `after_commit` on the loop once it
        is committed, `take` on the loop just before the transaction."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, fut, [after_commit] if after_commit else [], take))
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

        row = (_PROBE_ID, self._clock.now().timestamp())

        def job(db: sqlite3.Connection) -> None:
            # A row that really dirties a page: an empty transaction would commit on a full disk.
            db.execute("INSERT OR REPLACE INTO deliveries(id, at) VALUES (?, ?)", row)

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
