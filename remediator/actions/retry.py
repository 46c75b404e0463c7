"""Retry policy for actions: tenacity, on the injected clock, for transient errors only.

The engine wraps each `KubeActions.execute` (or `plan`) call in `call_with_retries`. Only
`TransientActionError` is retried (timeouts, connection errors, 429, 5xx, 409); a permanent error or a
not-applicable precondition stops at once, because repeating the same request cannot change the answer.
Each retry re-runs the whole callable, and the actions always GET fresh state, so a 409 is resolved by
re-reading rather than by replaying a stale patch. A write whose answer was lost may have landed: the
runner gives each action an `Attempts` scope shared by its retries, so a relative action (restart, scale
by/factor, undo) sends the value its first attempt computed, or reports the change already in place.

Sleeping goes through `clock.sleep` and the deadline is measured on `clock.monotonic`, so tests with a
`FakeClock` run a two-minute back-off schedule instantly and can read the sleeps off the clock.

Attempts used are returned with the result. On failure the error that ends the retries is re-raised
unchanged (tenacity `reraise=True`) with an `attempts` attribute attached; read it with `attempts_of`.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from remediator.clock import Clock
from remediator.errors import TransientActionError

T = TypeVar("T")

OnRetry = Callable[[int, BaseException, float], None]
"""Called before each back-off sleep with (attempt number that failed, its error, seconds to sleep)."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How hard to try one action. A rule's `retry: {attempts: 4, backoff: 1s..30s}` maps onto it."""

    attempts: int = 4
    """Total calls, the first included. Four covers a brief API-server blip without hammering it."""
    backoff_min_s: float = 1.0
    """First back-off; also the jitter width, so replicas that failed together do not retry together."""
    backoff_max_s: float = 30.0
    """Cap of the exponential back-off (a server's Retry-After may ask for more, and wins)."""
    deadline_s: float = 120.0
    """No sleep may end past this many seconds after the first call: the alert is still firing."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts {self.attempts!r} must be at least 1")
        if not 0 <= self.backoff_min_s <= self.backoff_max_s:
            raise ValueError(
                f"retry backoff {self.backoff_min_s!r}..{self.backoff_max_s!r} must satisfy 0 <= min <= max"
            )
        if self.deadline_s <= 0:
            raise ValueError(f"retry deadline {self.deadline_s!r} must be positive")


def backoff_s(policy: RetryPolicy, attempt: int, *, retry_after_s: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Exponential from `backoff_min_s` doubling per attempt, plus up to `backoff_min_s` of jitter, capped at
    `backoff_max_s`; never less than the server's Retry-After.
    """
    base = policy.backoff_min_s * 2.0 ** min(attempt - 1, 32) + random.uniform(0, policy.backoff_min_s)
    wait = min(max(base, policy.backoff_min_s), policy.backoff_max_s)
    if retry_after_s is not None:
        wait = max(wait, retry_after_s)
    return wait


def attempts_of(exc: BaseException) -> int:
    """How many calls `call_with_retries` made before raising `exc` (1 for errors it never saw)."""
    attempts = getattr(exc, "attempts", 1)
    return attempts if isinstance(attempts, int) else 1


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    clock: Clock,
    on_retry: OnRetry | None = None,
) -> tuple[T, int]:
    """`(await fn(), attempts used)`, retrying `TransientActionError` within `policy`.

    Stops after `policy.attempts` calls, or earlier when the next sleep would end past the deadline (a
    strict bound: the schedule never overruns it). The last error is re-raised with `.attempts` set.
    """
    start = clock.monotonic()
    calls = 0

    async def attempt() -> T:
        nonlocal calls
        calls += 1
        return await fn()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after_s if isinstance(exc, TransientActionError) else None
        return backoff_s(policy, state.attempt_number, retry_after_s=retry_after)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        # tenacity computes the wait before asking stop, so upcoming_sleep is the sleep we would take.
        return clock.monotonic() - start + state.upcoming_sleep > policy.deadline_s

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if on_retry is not None and exc is not None:
            on_retry(state.attempt_number, exc, state.upcoming_sleep)

    retrying = AsyncRetrying(
        sleep=clock.sleep,
        stop=stop,
        wait=wait,
        retry=retry_if_exception_type(TransientActionError),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        result: T = await retrying(attempt)
    except Exception as e:
        e.attempts = calls  # type: ignore[attr-defined]
        raise
    return result, calls
