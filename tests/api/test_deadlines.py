"""The handler timeout's queue of deadlines (api/deadlines.py) keeps asyncio.timeout's promises."""

from __future__ import annotations

import asyncio

import pytest

from remediator.api.deadlines import Deadlines


async def test_what_ends_in_time_is_answered_and_leaves_nothing_behind() -> None:
    deadlines = Deadlines(5.0)

    async def quick(n: int) -> int:
        await asyncio.sleep(0)
        return n

    assert await asyncio.gather(*(deadlines.run(quick(n)) for n in range(100))) == list(range(100))
    assert deadlines.pending() == 0


async def test_a_late_one_is_a_timeout_error_at_its_deadline_and_the_others_are_untouched() -> None:
    deadlines = Deadlines(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stuck = asyncio.ensure_future(deadlines.run(asyncio.sleep(60)))
    await asyncio.sleep(0.05)
    later = asyncio.ensure_future(deadlines.run(asyncio.sleep(0.1, "ok")))  # ends before its own deadline
    with pytest.raises(TimeoutError):
        await stuck
    assert 0.2 <= loop.time() - started < 0.2 + 0.5
    assert await later == "ok"
    assert deadlines.pending() == 0


async def test_each_late_request_times_out_at_its_own_deadline() -> None:
    deadlines = Deadlines(0.2)
    loop = asyncio.get_running_loop()
    ended: list[float] = []

    async def one() -> None:
        start = loop.time()
        with pytest.raises(TimeoutError):
            await deadlines.run(asyncio.sleep(60))
        ended.append(loop.time() - start)

    tasks = []
    for _ in range(3):
        tasks.append(asyncio.ensure_future(one()))
        await asyncio.sleep(0.07)
    await asyncio.gather(*tasks)
    assert all(0.2 <= e < 0.2 + 0.3 for e in ended), ended


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    deadlines = Deadlines(5.0)
    task = asyncio.ensure_future(deadlines.run(asyncio.sleep(60)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deadlines.pending() == 0


async def test_cancelled_from_outside_as_the_deadline_passes_is_a_cancellation() -> None:
    """As with asyncio.timeout: a cancel request besides the deadline's is not turned into a timeout."""
    deadlines = Deadlines(0.05)
    seen: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("cancelled")
            asyncio.current_task().cancel()  # type: ignore[union-attr]  # a second request, from elsewhere
            raise

    task = asyncio.ensure_future(deadlines.run(stubborn()))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_a_swallowed_deadline_leaves_the_task_uncancelled() -> None:
    deadlines = Deadlines(0.05)

    async def swallows() -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            return "kept going"
        return "never"

    async def caller() -> tuple[str, int]:
        result = await deadlines.run(swallows())
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()

    assert await asyncio.ensure_future(caller()) == ("kept going", 0)
