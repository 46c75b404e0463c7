"""Time, injected.

Guards persist wall time (`now`, UTC) so cooldowns survive restarts, and use
`monotonic` for in-process windows. Everything that waits (retry backoff,
verification polls) waits through `sleep`, so tests can run minutes of
simulated time in milliseconds with a `FakeClock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
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
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
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


class ScaledClock:
    """Wall time running `speed` times faster from a fixed simulated start: hours in seconds, across
    processes. Two daemons given the same (start, wall_start, speed) agree on the time, so a test can
    SIGKILL one and start another in the middle of a simulated incident and time goes on where it was.
    Selected by `REMEDIATOR_SIMULATED_TIME` (see `scaled_clock_from_env`); never in production."""

    def __init__(self, *, start: datetime, wall_start: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed {speed} must be positive")
        self._start = start
        self._wall_start = wall_start
        self._speed = speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.time() - self._wall_start) * self._speed)

    def monotonic(self) -> float:
        return time.monotonic() * self._speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self._speed)


SIMULATED_TIME_ENV = "REMEDIATOR_SIMULATED_TIME"


def scaled_clock_from_env(value: str | None) -> ScaledClock | None:
    """`START@WALL*SPEED` (`2026-01-01T00:00:00+00:00@1767225600.5*600`): simulated START at Unix
    time WALL, running SPEED times faster. None when unset; ValueError when malformed."""
    if not value:
        return None
    try:
        start_text, _, rest = value.partition("@")
        wall_text, _, speed_text = rest.partition("*")
        start = datetime.fromisoformat(start_text)
        if start.tzinfo is None:
            raise ValueError("the start needs a UTC offset")
        return ScaledClock(start=start, wall_start=float(wall_text), speed=float(speed_text))
    except ValueError as e:
        raise ValueError(f"{SIMULATED_TIME_ENV}={value!r} is not START@WALL*SPEED: {e}") from None
