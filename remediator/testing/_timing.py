"""When the fake cluster's controllers and kubelet act: a timeline on the injected clock.

A real cluster answers a write at once and reconciles later: the Deployment controller
sees the change through its informer a moment after, new pods take seconds to start,
and a deleted pod lingers for its grace period. The fake reproduces that with a
discrete-event timeline: work is scheduled at a due time on the test's clock and runs
when a request (or a watch, or `FakeKubeServer.get`) finds the clock past it. Each piece
of work runs with the store's time pinned to its due time, so timestamps are those a
real cluster would have written, however far the test jumps the clock.

No background task drives it, so a test that never advances its FakeClock sees a
cluster frozen right after its writes, exactly as a too-early read would see it.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from remediator.testing._store import Store

RECURRING = ("crash/", "deadline/")
"""Key prefixes of work that reschedules itself for ever; a fast-forward leaves it pending."""
_MAX_STEPS = 200_000
"""Work items one catch-up may run before the fake declares its controllers stuck in a loop."""


@dataclass(frozen=True, kw_only=True)
class Timing:
    """How long things take in the fake cluster, in seconds of the injected clock."""

    controller_delay_s: float = 0.5
    """From a change to the controllers acting on it (informer lag plus work-queue batching)."""
    pod_start_s: float = 3.0
    """From pod creation to Running and Ready (scheduling, image pull, readiness probe)."""
    pod_stop_s: float | None = None
    """From SIGTERM to the kubelet confirming the deletion; None waits the whole grace period,
    as an application that ignores SIGTERM does (the pessimistic case for "wait until gone")."""
    job_pod_run_s: float = 5.0
    """How long a Job's pod runs before exiting 0, unless the test scripts another outcome."""
    gc_delay_s: float = 1.0
    """From an owner's deletion to the garbage collector deleting (or orphaning) its dependents."""

    @classmethod
    def instant(cls) -> Timing:
        """Everything at once: every write settles before its response is sent."""
        return cls(controller_delay_s=0, pod_start_s=0, pod_stop_s=0, job_pod_run_s=0, gc_delay_s=0)

    def manual(self) -> Timing:
        """Pods never start by themselves: rollouts wait for `FakeKubeServer.complete_rollouts()`."""
        return replace(self, pod_start_s=math.inf)

    @property
    def is_instant(self) -> bool:
        return self == Timing.instant()


class Timeline:
    """Work due at a time, run in (due, order of scheduling) order when the clock has passed it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._heap: list[tuple[datetime, int, str, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._keyed: dict[str, tuple[datetime, int]] = {}
        self._paused = 0
        self._running = False

    def now(self) -> datetime:
        """The current time: the due time of the work running now, else the clock."""
        return self._store.now()

    def at(self, due: datetime, action: Callable[[], None], *, key: str) -> None:
        """Run `action` at `due`. With the same `key` already pending no later, nothing is added:
        a controller queued twice still syncs once, as a work queue collapses duplicates."""
        if self._paused:
            return
        pending = self._keyed.get(key)
        if pending is not None and pending[0] <= due:
            return
        seq = next(self._seq)
        self._keyed[key] = (due, seq)
        heapq.heappush(self._heap, (due, seq, key, action))

    def after(self, seconds: float, action: Callable[[], None], *, key: str) -> None:
        if math.isinf(seconds):
            return
        self.at(self.now() + timedelta(seconds=max(seconds, 0.0)), action, key=key)

    def pending(self, key: str) -> bool:
        return key in self._keyed

    def cancel(self, key: str) -> None:
        self._keyed.pop(key, None)

    def paused(self) -> _Paused:
        """Drop scheduling while seeding: seeded objects are built settled, nothing is left to do."""
        return _Paused(self)

    def next_due(self) -> datetime | None:
        while self._heap and not self._live(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _live(self, entry: tuple[datetime, int, str, Callable[[], None]]) -> bool:
        return self._keyed.get(entry[2]) == (entry[0], entry[1])

    def run_due(self, now: datetime | None = None, *, clamp: bool = False) -> int:
        """Run everything due by `now` (default the clock), including work that work schedules.

        `clamp=True` runs everything pending, however far ahead, with the time pinned to `now`:
        the "fast-forward" of `complete_rollouts()`, which must not move timestamps past the clock.
        Recurring work (keys starting with `RECURRING`: crash-loop restarts, deadline checks)
        is left pending then, since it would never run out. Re-entrant calls (a write made by
        a controller) return at once: the outer loop continues.
        """
        if self._running:
            return 0
        self._running = True
        steps = 0
        held: list[tuple[datetime, int, str, Callable[[], None]]] = []
        try:
            limit = now or self._store.now()
            while True:
                due = self.next_due()
                if due is None or (due > limit and not clamp):
                    return steps
                entry = heapq.heappop(self._heap)
                _, _, key, action = entry
                if clamp and due > limit and key.startswith(RECURRING):
                    held.append(entry)
                    continue
                del self._keyed[key]
                steps += 1
                if steps > _MAX_STEPS:
                    raise RuntimeError(f"FakeKubeServer: controllers did not settle (last work: {key})")
                with self._store.pinned(min(due, limit) if clamp else due):
                    action()
        finally:
            for entry in held:
                heapq.heappush(self._heap, entry)
            self._running = False


class _Paused:
    def __init__(self, timeline: Timeline) -> None:
        self._timeline = timeline

    def __enter__(self) -> None:
        self._timeline._paused += 1

    def __exit__(self, *exc: object) -> None:
        self._timeline._paused -= 1
