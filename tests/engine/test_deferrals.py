"""The deferral queue's wake-ups: every freed slot is followed by a sweep, without a write each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from remediator.clock import FakeClock
from remediator.engine.deferrals import DeferralQueue
from remediator.metrics import Metrics
from remediator.store.scheduling import NewTimer


class Waiting:
    """The journal as the queue sees it when it frees slots: how many decisions wait."""

    def __init__(self, n: int) -> None:
        self.n = n

    def deferred_waiting(self) -> int:
        return self.n


class Schedule:
    """Records each sweep scheduled; the first one is held until `release` (a slow journal write)."""

    def __init__(self) -> None:
        self.calls: list[Sequence[NewTimer]] = []
        self.gate = asyncio.Event()

    async def __call__(self, timers: Sequence[NewTimer]) -> None:
        self.calls.append(timers)
        await self.gate.wait()


def queue(journal: Waiting, schedule: Schedule) -> DeferralQueue:
    nothing: Any = None
    return DeferralQueue(
        journal=journal,  # type: ignore[arg-type]
        decider=nothing,
        hand_over=nothing,
        rules=lambda _: None,
        resolutions=nothing,
        schedule=schedule,
        metrics=Metrics(),
        clock=FakeClock(datetime(2026, 11, 23, tzinfo=UTC)),
        worker="w",
        retry_s=30.0,
        max_alert_age_s=600.0,
    )


async def test_slots_freed_during_a_wake_are_answered_by_one_more_wake() -> None:
    schedule = Schedule()
    q = queue(Waiting(5), schedule)
    for _ in range(100):  # a storm's executions ending together: the first wake is after all of them
        q.slot_freed()
    await asyncio.sleep(0)
    assert len(schedule.calls) == 1
    for _ in range(100):  # and more while its write is on its way
        q.slot_freed()
    await asyncio.sleep(0)
    assert len(schedule.calls) == 1
    schedule.gate.set()
    await q.idle()
    assert len(schedule.calls) == 2, "the slots freed while the first write was on its way: one more"
    assert all(t.kind == "deferrals" and t.due_at == q.sweep_timer().due_at for [t] in schedule.calls)
    q.slot_freed()  # a slot freed after the last wake: a wake of its own
    await q.idle()
    assert len(schedule.calls) == 3


async def test_no_wake_when_nothing_waits() -> None:
    schedule = Schedule()
    schedule.gate.set()
    q = queue(Waiting(0), schedule)
    q.slot_freed()
    await q.idle()
    assert schedule.calls == []
