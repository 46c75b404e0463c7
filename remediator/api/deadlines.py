"""The handler timeout (http.handler_timeout) without a timer per request.

Every request of an application gets the same timeout, so deadlines come in the order requests
start: a queue in that order, with one timer for its oldest entry, does what `asyncio.timeout` does
per request (a TimerHandle pushed on the loop's heap and cancelled again, about a tenth of a webhook's
own CPU) with an append and a flag. The semantics are `asyncio.timeout`'s: at the deadline the task
is cancelled, and that cancellation comes out as TimeoutError unless the task was also cancelled by
someone else (then CancelledError, as asked).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class _Entry:
    __slots__ = ("cancelling", "done", "expired", "task", "when")

    def __init__(self, task: asyncio.Task[object], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = task.cancelling()
        self.done = False
        self.expired = False


class Deadlines:
    """`run(awaitable)`: awaited within `timeout_s` of loop time, else TimeoutError. For one event loop."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._queue: deque[_Entry] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline is kept inside a task")
        loop = task.get_loop()
        entry = _Entry(task, loop.time() + self.timeout_s)
        self._queue.append(entry)
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_at(entry.when, self._expire, loop)
        try:
            return await awaitable
        except asyncio.CancelledError as e:
            if entry.expired:
                entry.expired = False
                if task.uncancel() <= entry.cancelling:
                    raise TimeoutError from e
            raise
        finally:
            if entry.expired:  # the deadline passed, but the awaitable did not end cancelled
                task.uncancel()
            entry.done = True
            queue = self._queue
            while queue and queue[0].done:
                queue.popleft()

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The oldest deadline's time: cancel every task whose deadline passed; wait for the next."""
        self._timer = None
        queue = self._queue
        now = loop.time()
        while queue and (queue[0].done or queue[0].when <= now):
            entry = queue.popleft()
            if not entry.done:
                entry.expired = True
                entry.task.cancel()
        if queue:
            self._timer = loop.call_at(queue[0].when, self._expire, loop)

    def pending(self) -> int:
        """Requests in the queue (finished ones behind an unfinished older one included)."""
        return len(self._queue)
