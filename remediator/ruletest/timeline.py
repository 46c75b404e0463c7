"""Simulated time for rule tests: the clock, and moving it only when the engine is idle.

The runner's correctness hangs on one question: has the engine done everything it will do at
this simulated time? `SimClock` knows which sleeps are in progress, and `settle` compares them
with the executions, the scheduler and the incident desk; `advance` and `run_out` then move the
clock from one wake-up to the next. It is its own module because this is the delicate part
of the runner, and reading it should not mean reading how tests are loaded or reported.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from remediator.app import Application
from remediator.clock import FakeClock

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Simulated time of `at: 0s`. Fixed, so reasons and timestamps are the same on every run."""

RUN_OUT_HORIZON_S = 86400.0
"""Simulated seconds `run_out` runs the clock forward before giving up on unfinished executions."""
_SETTLE_TIMEOUT_S = 10.0
"""Real seconds the engine may take to act on one step before the test is reported as stuck."""
_POLL_S = 0.002
_YIELDS = 5
_RUN_OUT_STEP_S = 60.0


class SimClock(FakeClock):
    """A manual FakeClock that knows the deadlines of the sleeps in progress.

    The runner steps it from one deadline to the next itself (`next_deadline`, `advance`), and
    tells an engine waiting for simulated time (verification polls, retry backoff) from one still
    working by comparing `sleeping` with the executions running. A sleep counts from the moment it
    starts until its deadline passes, not until its task resumes, so a task just woken is busy.
    """

    def __init__(self, start: datetime) -> None:
        super().__init__(start, autojump=False)
        self._start = start
        self._deadlines: list[float] = []

    def now(self) -> datetime:
        """Start plus elapsed simulated time, rounded to the microsecond. FakeClock adds each float
        step to a datetime, which drifts by microseconds over many wake-ups; then `at: 5m` would
        read "299.999999s ago" in a reason and stamp restartedAt a second early."""
        return self._start + timedelta(microseconds=round(self.monotonic() * 1_000_000))

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + max(seconds, 0.0)
        self._deadlines.append(deadline)
        try:
            await super().sleep(seconds)
        finally:
            self._deadlines.remove(deadline)

    @property
    def sleeping(self) -> int:
        """Sleeps whose deadline is still ahead."""
        now = self.monotonic()
        return sum(1 for d in self._deadlines if d > now)

    def next_deadline(self) -> float | None:
        now = self.monotonic()
        return min((d for d in self._deadlines if d > now), default=None)


async def settle(app: Application, clock: SimClock) -> bool:
    """Wait until the engine has nothing left to do at the current simulated time.

    True: every accepted alert is decided and every execution has finished. False: every running
    execution is asleep on the clock (verification, retry backoff) and waits for time to move.
    Raises TimeoutError when neither happens within `_SETTLE_TIMEOUT_S` of real time.

    Never gives up on `app.drained()` while executions run: cancelling it would cancel the
    executions too (`ActionRunner.idle()` awaits a gather of them).
    """
    async with asyncio.timeout(_SETTLE_TIMEOUT_S):
        while True:
            await app.processor.drained(_SETTLE_TIMEOUT_S)
            for _ in range(_YIELDS):  # let tasks just woken run up to their next await
                await asyncio.sleep(0)
            if app.journal.backlog():
                continue
            running = app.runner.running()
            if running == 0:
                await app.drained(_SETTLE_TIMEOUT_S)  # escalations; nothing on the clock is left
                if await app.scheduler.due_now():
                    app.scheduler.wake()  # a timer due now (a slot freed): it runs at this time
                    await asyncio.sleep(_POLL_S)
                    continue
                if not app.scheduler.asleep:
                    await asyncio.sleep(_POLL_S)  # its next wake-up is not registered with the clock yet
                    continue
                if app.runner.running() == 0 and not app.journal.backlog():
                    return True
            elif clock.sleeping - app.scheduler.waiting >= running:  # the scheduler's own sleep aside
                await app.desk.idle()  # what the incident desk does at this time happens at this time
                if await app.scheduler.due_now() or not app.scheduler.asleep:
                    app.scheduler.wake()
                    await asyncio.sleep(_POLL_S)
                    continue
                return False
            else:
                await asyncio.sleep(_POLL_S)  # an API call or a journal write is on its way


async def advance(app: Application, clock: SimClock, seconds: float) -> None:
    """Move simulated time on by `seconds`, stopping at every wake-up on the way so each
    sleeper sees the time it asked for and the engine settles before time moves again."""
    end = clock.monotonic() + seconds
    await settle(app, clock)
    while True:
        wake = clock.next_deadline()
        step_to = end if wake is None else min(wake, end)
        clock.advance(max(step_to - clock.monotonic(), 0.0))
        await settle(app, clock)
        if step_to >= end:
            return


async def run_out(app: Application, clock: SimClock) -> bool:
    """Move simulated time on until every execution has finished (False: the horizon came first)."""
    horizon = clock.monotonic() + RUN_OUT_HORIZON_S
    while not await settle(app, clock):
        wake = clock.next_deadline()
        if wake is None or wake > horizon:
            return False
        clock.advance(wake - clock.monotonic())
    return True


async def keep_time_moving(clock: SimClock) -> None:
    while True:
        await asyncio.sleep(_POLL_S)
        clock.advance(_RUN_OUT_STEP_S)
