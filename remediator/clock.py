"""Time, injected.

Guards persist wall time (`now`, UTC) so cooldowns survive restarts, and use
`monotonic` for in-process windows. Everything that waits (retry backoff,
verification polls) waits through `sleep`, so tests can run minutes of
simulated time in milliseconds with a `FakeClock`. A daemon in another process (restart scenarios)
reads simulated time from a file the test writes (`FileClock`, only when `REMEDIATOR_TEST_CLOCK_FILE`
is set).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


@runtime_checkable
class _Waits(Protocol):
    async def wait(self, seconds: float) -> None: ...


async def wait_for_time(clock: Clock, seconds: float) -> None:
    """Sleep `seconds` of `clock` time in a background loop. A fake clock that jumps when slept on
    (autojump) is waited on without jumping: background work waits for time, it does not make it."""
    if isinstance(clock, _Waits):
        await clock.wait(seconds)
    else:
        await clock.sleep(seconds)


@runtime_checkable
class _Deadlines(Protocol):
    async def deadline(self, seconds: float) -> None: ...


async def deadline_passes(clock: Clock, seconds: float) -> None:
    """Return once `seconds` of `clock` time have passed: a deadline raced against other work (a
    probe), which neither makes time pass nor is a step a fake clock's `run` stops at."""
    if isinstance(clock, _Deadlines):
        await clock.deadline(seconds)
    else:
        await clock.sleep(seconds)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that moves only when told to.

    `autojump=True` (unit tests of one waiter, e.g. retries): `sleep` advances the clock
    at once. `autojump=False` (scenarios with several waiters): `sleep` waits until
    `advance`/`run` moves the clock past its deadline, so waiters wake in time order and
    events the test injects in between (a resolved alert) land at the right simulated time.
    """

    def __init__(self, start: datetime | None = None, *, autojump: bool = True) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 0.0
        self._autojump = autojump
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._raced: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.slept: list[float] = []
        """Every sleep requested, in order: tests assert backoff spacing with it."""

    def now(self) -> datetime:
        # Computed from the start, not accumulated: many small float steps must not drift.
        return self._start + timedelta(seconds=round(self._mono, 6))

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        for heap in (self._sleepers, self._raced):
            while heap and heap[0][0] <= self._mono:
                _, _, fut = heapq.heappop(heap)
                if not fut.done():
                    fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.slept.append(seconds)
        if self._autojump:
            self.advance(seconds)
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    async def wait(self, seconds: float) -> None:
        """Wait until `seconds` of this clock's time have passed, never moving it, autojump or not:
        a background loop (the scheduler) waits for time to pass; only the test makes it pass."""
        if not self._autojump:
            await self.sleep(seconds)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + max(seconds, 0.0), next(self._seq), fut))
        await fut

    async def deadline(self, seconds: float) -> None:
        """Wait until `seconds` have passed, never moving the clock, and unseen by `run`: the work
        raced against it (real I/O) takes no simulated time, as before the deadline existed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._raced, (self._mono + max(seconds, 0.0), next(self._seq), fut))
        await fut

    async def run(self, seconds: float, *, settle_s: float = 0.005, quiet_s: float = 0.1) -> None:
        """Advance `seconds` of simulated time, waking sleepers in order and letting real I/O
        (HTTP to the fake API server, journal writes) settle between steps. With no sleeper
        pending, wait up to `quiet_s` of real time for one to appear before jumping to the end:
        a retry's request may still be on the wire."""
        end = self._mono + seconds
        while True:
            await asyncio.sleep(settle_s)
            waited = 0.0
            while not self._pending() and waited < quiet_s:
                await asyncio.sleep(settle_s)
                waited += settle_s
            upcoming = self._pending()
            step_to = min(min(upcoming), end) if upcoming else end
            self.advance(step_to - self._mono)
            if self._mono >= end:
                await asyncio.sleep(settle_s)
                return

    def _pending(self) -> list[float]:
        return [d for d, _, f in self._sleepers if not f.done()]


class FileClock:
    """Simulated time that a test sets by writing it to a file (one ISO 8601 UTC time), for a daemon
    in another process: time stands still until the test moves it, jumps when it does, and carries on
    where it was across a SIGKILL and a restart, so a test can walk a daemon process through hours of
    an incident minute by minute and assert what it did at each one. Selected by
    `REMEDIATOR_TEST_CLOCK_FILE` (`clock_from_env`); for tests only, never in production.

    `sleep` polls the file every `poll_s` of real time until the time it waits for has come; the file
    is read on every `now()` (write it with `write_clock_file`, an atomic rename)."""

    def __init__(self, path: Path, *, poll_s: float = 0.01) -> None:
        self._path = path
        self._poll_s = poll_s
        self.now()  # unreadable or malformed: fail at start-up, not at the first decision

    def now(self) -> datetime:
        text = self._path.read_text().strip()
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{TEST_CLOCK_ENV}: {self._path}: {text[:40]!r} is not an ISO time") from None
        if at.tzinfo is None:
            raise ValueError(f"{TEST_CLOCK_ENV}: {self._path}: {text!r} needs a UTC offset")
        return at.astimezone(UTC)

    def monotonic(self) -> float:
        return (self.now() - _MONOTONIC_ZERO).total_seconds()

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + max(seconds, 0.0)
        # Polled: the time is in a file another process writes, there is no event to wait on.
        while self.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(self._poll_s)


_MONOTONIC_ZERO = datetime(2000, 1, 1, tzinfo=UTC)
TEST_CLOCK_ENV = "REMEDIATOR_TEST_CLOCK_FILE"


def write_clock_file(path: Path, at: datetime) -> None:
    """Set a FileClock's time: written aside and renamed, so a reader never sees half a time."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(at.astimezone(UTC).isoformat())
    os.replace(tmp, path)


def clock_from_env(environ: Mapping[str, str]) -> FileClock | None:
    """The FileClock `REMEDIATOR_TEST_CLOCK_FILE` names; None when unset (the system clock)."""
    path = environ.get(TEST_CLOCK_ENV)
    return FileClock(Path(path)) if path else None
