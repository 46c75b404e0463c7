"""Errors grouped by what the caller should do about them.

`ConfigError`/`RuleError`: refuse to load. `TransientActionError`: retry.
`PermanentActionError`: stop and escalate. Messages start with their subject and
rule errors carry `path:line:` so on-call can jump straight to the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class RemediatorError(Exception):
    """Base of every error remediator raises on purpose."""


class ConfigError(RemediatorError):
    """The configuration cannot be used; the daemon refuses to start (or to reload)."""


class RuleError(ConfigError):
    def __init__(self, path: Path | str, line: int, msg: str) -> None:
        self.path = str(path)
        self.line = line
        self.msg = msg
        super().__init__(f"{path}:{line}: {msg}")


class RuleLoadError(ConfigError):
    """Every error found while loading a rule set, so authors fix them all in one pass."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class TransientActionError(RemediatorError):
    """Worth retrying: timeouts, connection errors, 429, 5xx, 409 after a re-read."""

    def __init__(self, msg: str, *, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(msg)


class PermanentActionError(RemediatorError):
    """Retrying cannot help (403, 404, 422, a paused Deployment...): fail at once with the reason."""


class NotApplicableError(RemediatorError):
    """The action's precondition does not hold (no recent rollout to undo, no pod to delete).

    Nothing was changed and nothing is broken: the decision is recorded as skipped with
    this reason, and it does not count against the circuit breaker."""


class RefusedError(NotApplicableError):
    """Not done because it would be unsafe, not because it is not needed: the message starts with the
    reason code (`would_revert_mitigation`, `not_owned_by_target`, `last_ready_pod`). Skipped like any
    precondition, and recorded with that reason as it is."""


class TryLaterError(NotApplicableError):
    """Nothing was changed and the precondition should hold again soon: a PodDisruptionBudget allows
    no disruption right now (the eviction API's 429 with cause `DisruptionBudget`).

    Met while deciding (the target guard's plan), the decision is deferred and decided again later,
    as a busy target is. Met while acting (the budget was spent between the plan's dry-run eviction and
    the real one), the execution ends `skipped` with a reason starting `TRY_LATER`, never failed and
    never retried in a loop (hammering an eviction the budget refuses cannot change its answer): it
    holds no cooldown and no dedup, and the decision is deferred again, so the pod is evicted once the
    budget allows it."""


TRY_LATER = "try later: "
"""How an execution that met `TryLaterError` while acting starts its error (the journal reads it)."""
