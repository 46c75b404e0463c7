"""The lease fence on Kubernetes writes: a write is sent only while this replica's lease covers it.

With several replicas, another may take over an execution once this one's lease has expired. A write
sent by the old holder must therefore have ended (answered or timed out) before its lease does, or
it could land after the take-over and be applied twice. The runner installs a fence for each attempt
(`fenced`); the client asks it right before sending each write (`before_write`), after the wait for a
slot, with the call's timeout: it renews the lease when what is left would not cover the call.
A context variable, since one client serves every execution at once: each asyncio task has its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

WriteFence = Callable[[float], Awaitable[None]]
"""Called with the write's longest duration (seconds); returns once the lease covers it, or raises."""

_fence: ContextVar[WriteFence | None] = ContextVar("remediator_write_fence", default=None)


@contextlib.contextmanager
def fenced(fence: WriteFence) -> Iterator[None]:
    """Every write sent from this block (this task and the tasks it starts) asks `fence` first."""
    token = _fence.set(fence)
    try:
        yield
    finally:
        _fence.reset(token)


async def before_write(within_s: float) -> None:
    """Ask the current fence, if any, whether a write of at most `within_s` may be sent now."""
    fence = _fence.get()
    if fence is not None:
        await fence(within_s)
