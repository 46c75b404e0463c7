"""The scheduler runs journaled timers at their simulated time, once, and chains what follows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediator.clock import FakeClock
from remediator.metrics import Metrics
from remediator.schedule import Fired, Scheduler
from remediator.store.scheduling import NewTimer, Timer
from remediator.store.sqlite import SqliteJournal

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0, autojump=False)


@pytest.fixture
async def journal(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteJournal]:
    async with SqliteJournal.open(tmp_path / "j.sqlite", clock=clock) as j:
        yield j


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[None]:
    task = asyncio.create_task(scheduler.run(), name="scheduler")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def scheduler(journal: SqliteJournal, clock: FakeClock, worker: str = "w1", **kw: float) -> Scheduler:
    return Scheduler(store=journal, clock=clock, metrics=Metrics(), worker=worker, poll_s=3600, **kw)  # type: ignore[arg-type]


async def test_a_ladder_of_chained_timers_fires_at_its_simulated_times(
    journal: SqliteJournal, clock: FakeClock
) -> None:
    fired: list[tuple[float, int]] = []

    async def step(timer: Timer) -> Fired:
        n = int(timer.payload["step"])
        fired.append(((clock.now() - T0).total_seconds() / 60, n))
        if n == 3:
            return Fired(result=f"step {n}")
        due = T0 + timedelta(minutes=[15, 30, 60][n])
        return Fired(
            result=f"step {n}",
            then=[NewTimer(kind="step", key="incident:1", due_at=due, payload={"step": n + 1})],
        )

    s = scheduler(journal, clock)
    s.register("step", step)
    await journal.schedule([NewTimer(kind="step", key="incident:1", due_at=T0, payload={"step": 0})])
    async with running(s):
        await clock.run(2 * 3600, quiet_s=2.0)
    assert fired == [(0, 0), (15, 1), (30, 2), (60, 3)]
    assert await journal.timers() == []
    assert [t.result for t in await journal.timers(pending=False)] == ["step 3", "step 2", "step 1", "step 0"]


async def test_scheduling_sooner_wakes_the_sleeping_loop(journal: SqliteJournal, clock: FakeClock) -> None:
    fired: list[str] = []

    async def note(timer: Timer) -> Fired:
        fired.append(f"{timer.key}@{int((clock.now() - T0).total_seconds())}s")
        return Fired(result="ok")

    s = scheduler(journal, clock)
    s.register("note", note)
    await journal.schedule([NewTimer(kind="note", key="late", due_at=T0 + timedelta(hours=1))])
    async with running(s):
        await clock.run(60)
        await s.schedule([NewTimer(kind="note", key="soon", due_at=clock.now() + timedelta(seconds=30))])
        await clock.run(3600, quiet_s=2.0)
    assert fired == ["soon@90s", "late@3600s"]


async def test_a_failing_handler_is_retried_with_backoff_then_given_up(
    journal: SqliteJournal, clock: FakeClock
) -> None:
    calls: list[float] = []

    async def broken(timer: Timer) -> Fired:
        calls.append((clock.now() - T0).total_seconds())
        raise RuntimeError("boom")

    s = scheduler(journal, clock, max_attempts=3, retry_s=10)
    s.register("broken", broken)
    await journal.schedule([NewTimer(kind="broken", key="x", due_at=T0)])
    async with running(s):
        await clock.run(600, quiet_s=2.0)
    assert calls == [0, 10, 30], "retried after 10s, then 20s, then given up"
    [done] = await journal.timers(pending=False)
    assert done.result == "failed after 3 attempts: RuntimeError: boom"


async def test_two_workers_on_one_journal_run_each_timer_once(
    journal: SqliteJournal, clock: FakeClock
) -> None:
    ran: list[tuple[str, str]] = []

    def handler(worker: str):  # type: ignore[no-untyped-def]
        async def run(timer: Timer) -> Fired:
            ran.append((worker, timer.key))
            await asyncio.sleep(0)
            return Fired(result=worker)

        return run

    a, b = scheduler(journal, clock, "a"), scheduler(journal, clock, "b")
    a.register("t", handler("a"))
    b.register("t", handler("b"))
    await journal.schedule([NewTimer(kind="t", key=str(i), due_at=T0) for i in range(40)])
    counts = await asyncio.gather(a.run_due(), b.run_due())
    assert sum(counts) == 40
    assert sorted(key for _, key in ran) == sorted(str(i) for i in range(40)), "each once, none twice"


class _Blinking:
    """The journal's timer store with a database blip: the next-due read fails `failures` times."""

    def __init__(self, store: SqliteJournal, failures: int) -> None:
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def next_timer_due(self) -> datetime | None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("connection to the journal lost")
        return await self._store.next_timer_due()


async def test_a_journal_blip_while_sleeping_does_not_stop_the_scheduler(
    journal: SqliteJournal, clock: FakeClock
) -> None:
    """A failed read of the next due time is polled again, not raised out of the loop (which would end
    the scheduler, and with it every ladder, update and watch)."""
    fired: list[str] = []

    async def note(timer: Timer) -> Fired:
        fired.append(timer.key)
        return Fired(result="ok")

    store = _Blinking(journal, failures=2)
    s = Scheduler(store=store, clock=clock, metrics=Metrics(), worker="w1", poll_s=0.05)  # type: ignore[arg-type]
    s.register("note", note)
    task = asyncio.create_task(s.run(), name="scheduler")
    try:
        async with asyncio.timeout(10):
            while store.failures:  # noqa: ASYNC110 - the loop reads on its own schedule
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert not task.done(), "the scheduler loop ended on a journal error"
        await journal.schedule([NewTimer(kind="note", key="after-the-blip", due_at=clock.now())])
        async with asyncio.timeout(10):
            while not fired:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert fired == ["after-the-blip"]
