"""One action step of an execution across its retries, so a retry never applies a change twice.

A transient error after a write (read timeout, connection reset, a proxy's 5xx) does not say whether
the write landed. The runner re-runs the whole action, and each action re-reads fresh state; without
this scope a relative action would then apply itself again (a second restartedAt stamp, a second
`by: 2`, a second undo). The step computes its target value once (`once`) and every attempt sends
that same absolute value; an attempt that finds it already in place after an earlier attempt sent it
(`sent`) reports success instead of acting again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from remediator.model import ExecutionId

T = TypeVar("T")

ALREADY_APPLIED = "already applied by an earlier attempt"


@dataclass(kw_only=True, eq=False)
class Attempts:
    """Shared by every attempt of one action of one execution (mutable on purpose: attempts fill it)."""

    execution_id: ExecutionId
    started_at: datetime
    """When the execution started: fixed across attempts, so a time stamped into a write is too."""
    sent: bool = False
    """An attempt sent its write; its answer may have been lost, so the change may be in place."""
    answer_lost: bool = False
    """An attempt that had sent its write ended without a definite answer (timeout, reset, 5xx): if
    the step fails in the end, the change may still be in place."""
    _memo: dict[str, object] = field(default_factory=dict)

    def once(self, key: str, value: T) -> T:
        """`value` the first time `key` is asked for; what the first attempt computed ever after."""
        return self._memo.setdefault(key, value)  # type: ignore[return-value]

    def recall(self, key: str) -> object | None:
        """What an earlier attempt stored under `key` with `once`, or None."""
        return self._memo.get(key)
