"""The scheduler: one loop that runs every timer in the journal when it is due.

Escalation ladders, incident updates, the post-resolution watch, approval reminders and expiry,
and the retries of deferred decisions are all rows in the journal's `timers` table
(`store/scheduling.py`). This loop claims the due ones (a lease: another replica, or this one
after a crash, takes a timer over only when the lease ends), runs the handler registered for
each kind, and finishes it with whatever the handler schedules next, in one transaction. It
sleeps on the injected clock until the next timer is due (or `poll_s`, for timers another
replica adds, in real time), so simulated hours pass in milliseconds; `wake()` cuts the sleep short
when this process schedules something sooner. It waits for time without ever moving a fake clock
(`clock.wait_for_time`): tests move time, background work follows.

A handler that raises is retried with back-off and, after `max_attempts`, finished as failed:
a bug in one kind must not stall the others or spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from remediator.clock import Clock, wait_for_time
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.store.scheduling import NewTimer, Timer, TimerStore

log = get_logger("remediator.schedule")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fired:
    """What a handler did: a line for the journal, and the timers that follow (the next step)."""

    result: str
    then: Sequence[NewTimer] = field(default_factory=tuple)


TimerHandler = Callable[[Timer], Awaitable[Fired]]


def worker_id() -> str:
    """This process among the replicas: host, pid and a random suffix (a restarted pid is not the same
    worker, so its predecessor's claims are not mistaken for its own)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Scheduler:
    def __init__(
        self,
        *,
        store: TimerStore,
        clock: Clock,
        metrics: Metrics,
        worker: str,
        lease_s: float = 60.0,
        poll_s: float = 5.0,
        batch: int = 50,
        max_attempts: int = 5,
        retry_s: float = 30.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self.worker = worker
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._batch = batch
        self._max_attempts = max_attempts
        self._retry_s = retry_s
        self._handlers: dict[str, TimerHandler] = {}
        self._wake = asyncio.Event()
        self._busy = False
        self.waiting = False
        """True while the loop sleeps on the clock (simulated-time runners tell idle from busy by it)."""
        self.asleep = False
        """True while the loop waits, its next timer's time (if any) registered with the clock: a
        simulated-time runner moves time on only then, or the loop would miss the time it wakes at."""

    def register(self, kind: str, handler: TimerHandler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for timer kind {kind!r} is already registered")
        self._handlers[kind] = handler
        self._metrics.declare_timer_kind(kind)

    def wake(self) -> None:
        """Something was scheduled sooner than the loop may be sleeping for: look again now."""
        self._wake.set()

    async def schedule(self, timers: Sequence[NewTimer]) -> None:
        await self._store.schedule(timers)
        self.wake()

    async def run(self) -> None:
        while True:
            try:
                fired = await self.run_due()
            except Exception:  # the journal failed: log, wait, try again; timers stay in the journal
                log.exception("scheduler pass failed; retrying")
                fired = 0
            if fired == 0:
                await self._sleep()

    async def run_due(self) -> int:
        """Claim the timers due now and run them; how many ran."""
        self._busy = True
        try:
            timers = await self._store.claim_timers(
                worker=self.worker, lease_s=self._lease_s, limit=self._batch
            )
            if timers:
                async with asyncio.TaskGroup() as tg:
                    for timer in timers:
                        tg.create_task(self._fire(timer), name=f"timer-{timer.kind}-{timer.id}")
            return len(timers)
        finally:
            self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    async def due_now(self) -> bool:
        """A timer is running or due at the clock's now: a simulated-time runner lets it run (and
        wakes the loop) before it moves time on."""
        if self._busy:
            return True
        due = await self._store.next_timer_due()
        return due is not None and due <= self._clock.now()

    async def _sleep(self) -> None:
        """Until the next timer is due (clock time), this process schedules one (`wake`), or `poll_s`
        of real time passes (another replica may have scheduled one)."""
        self._wake.clear()
        try:
            due = await self._store.next_timer_due()
        except Exception:  # the journal failed: poll again after poll_s; timers stay in the journal
            log.exception("scheduler: reading the next due time failed; polling")
            due = None
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
        if due is not None:
            delay = (due - self._clock.now()).total_seconds()
            if delay <= 0:
                waits[0].cancel()
                return
            waits.append(asyncio.ensure_future(wait_for_time(self._clock, delay)))
            self.waiting = True
        try:
            await asyncio.sleep(0)  # the clock wait starts, its deadline registered, before we say so
            self.asleep = True
            await asyncio.wait(waits, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.asleep = False
            self.waiting = False
            for task in waits:
                task.cancel()
            for task in waits:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _fire(self, timer: Timer) -> None:
        handler = self._handlers.get(timer.kind)
        if handler is None:
            log.error("timer of an unknown kind; finishing it unrun", kind=timer.kind, timer_id=timer.id)
            await self._finish(timer, Fired(result=f"failed: no handler for timer kind {timer.kind!r}"))
            return
        try:
            # Within the lease: past it another worker may take the timer over and run it again.
            async with asyncio.timeout(self._lease_s * 0.9):
                fired = await handler(timer)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            if timer.attempts >= self._max_attempts:
                log.exception("timer failed; giving up", kind=timer.kind, timer_id=timer.id)
                await self._finish(timer, Fired(result=f"failed after {timer.attempts} attempts: {error}"))
                return
            log.exception("timer failed; will retry", kind=timer.kind, timer_id=timer.id)
            self._metrics.timers.labels(kind=timer.kind, result="retry").inc()
            due = self._clock.now() + timedelta(seconds=self._retry_s * 2 ** (timer.attempts - 1))
            await self._store.retry_timer(timer.id, worker=self.worker, due_at=due, result=f"retry: {error}")
            return
        await self._finish(timer, fired)

    async def _finish(self, timer: Timer, fired: Fired) -> None:
        kept = await self._store.finish_timer(
            timer.id, worker=self.worker, result=fired.result, then=fired.then
        )
        result = "failed" if fired.result.startswith("failed") else "fired"
        if not kept:
            result = "lost"  # cancelled or moved while it ran: what it scheduled is dropped with it
            log.info("timer claim lost while it ran", kind=timer.kind, key=timer.key, result=fired.result)
        self._metrics.timers.labels(kind=timer.kind, result=result).inc()
        log.info("timer fired", kind=timer.kind, key=timer.key, result=fired.result, claim_kept=kept)
