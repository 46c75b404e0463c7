"""The file clock a daemon process reads simulated time from in restart scenarios."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediator.clock import (
    TEST_CLOCK_ENV,
    FakeClock,
    FileClock,
    clock_from_env,
    deadline_passes,
    write_clock_file,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_time_stands_still_until_the_file_moves_it(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    write_clock_file(path, T0)
    clock = FileClock(path)
    assert clock.now() == T0 and clock.now() == T0
    start = clock.monotonic()
    write_clock_file(path, T0 + timedelta(minutes=15))
    assert clock.now() == T0 + timedelta(minutes=15)
    assert clock.monotonic() - start == 900


async def test_a_sleep_ends_when_the_file_reaches_its_time_not_before(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    write_clock_file(path, T0)
    clock = FileClock(path, poll_s=0.001)
    sleeper = asyncio.create_task(clock.sleep(600))
    write_clock_file(path, T0 + timedelta(minutes=9))
    await asyncio.sleep(0.05)
    assert not sleeper.done(), "9 of its 10 minutes have passed"
    write_clock_file(path, T0 + timedelta(minutes=30))  # a jump past the deadline wakes it
    await asyncio.wait_for(sleeper, timeout=5)


def test_a_bad_clock_file_fails_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    path.write_text("nine o'clock")
    with pytest.raises(ValueError, match="is not an ISO time"):
        FileClock(path)
    path.write_text("2026-11-23T09:00:00")
    with pytest.raises(ValueError, match="needs a UTC offset"):
        FileClock(path)


def test_only_the_test_variable_selects_it(tmp_path: Path) -> None:
    assert clock_from_env({}) is None
    path = tmp_path / "clock"
    write_clock_file(path, T0)
    clock = clock_from_env({TEST_CLOCK_ENV: str(path)})
    assert isinstance(clock, FileClock) and clock.now() == T0


async def test_a_deadline_passes_with_time_but_is_no_step_of_run() -> None:
    """A fake clock's `run` steps to sleepers; a deadline raced against real I/O is not one, so the
    I/O gets `quiet_s` of real time as before, and the deadline still passes when time does."""
    clock = FakeClock(autojump=False)
    deadline = asyncio.ensure_future(deadline_passes(clock, 60))
    sleeper = asyncio.ensure_future(clock.sleep(90))
    await asyncio.sleep(0)
    assert clock._pending() == [90.0]  # the deadline is not a step
    clock.advance(59)
    await asyncio.sleep(0)
    assert not deadline.done()
    await clock.run(31)
    assert deadline.done() and sleeper.done() and clock.monotonic() == 90
