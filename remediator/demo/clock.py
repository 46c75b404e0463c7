"""The demo's clock: real time that the demo can fast-forward.

The shipped rules wait for minutes (verification windows of 5 to 15 minutes, cooldowns); nobody
watches a demo that long. While the sample incidents play out, `DemoDriver` jumps this clock from
one wake-up to the next whenever everything left to do is asleep on it, as `remediator test` does
with its simulated clock. Unlike that clock it keeps running with real time in between and after:
once the incidents are over, the console shows ages and expiries that move as a wall clock does.

`now()` and `monotonic()` are the system's plus one offset that only grows, so time never goes
backwards for anything that read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta


class DemoClock:
    def __init__(self, *, start_offset_s: float = 0.0) -> None:
        """`start_offset_s` (negative: the demo's story starts in the past) is added to real time."""
        self._offset = start_offset_s
        self._deadlines: list[float] = []
        self._woken = asyncio.Event()

    @property
    def offset_s(self) -> float:
        """How far ahead of the system clock this one is (negative: behind)."""
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + max(seconds, 0.0)
        self._deadlines.append(deadline)
        try:
            while (left := deadline - self.monotonic()) > 0:
                woken = self._woken
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await woken.wait()
        finally:
            self._deadlines.remove(deadline)

    async def deadline(self, seconds: float) -> None:
        """Like `sleep`, but not one the driver counts or jumps to: a deadline raced against real
        work in flight (a verification probe), which is not asleep (clock.deadline_passes)."""
        end = self.monotonic() + max(seconds, 0.0)
        while (left := end - self.monotonic()) > 0:
            woken = self._woken
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await woken.wait()

    def advance(self, seconds: float) -> None:
        """Jump ahead by `seconds` (>= 0) and wake the sleepers whose deadline passed."""
        if seconds <= 0:
            return
        self._offset += seconds
        woken, self._woken = self._woken, asyncio.Event()
        woken.set()

    def catch_up(self) -> None:
        """Jump to the system's time if the story started in the past and has not reached it yet."""
        if self._offset < 0:
            self.advance(-self._offset)

    @property
    def sleeping(self) -> int:
        """Sleeps whose deadline is still ahead."""
        now = self.monotonic()
        return sum(1 for d in self._deadlines if d > now)

    def next_deadline(self) -> float | None:
        now = self.monotonic()
        return min((d for d in self._deadlines if d > now), default=None)
