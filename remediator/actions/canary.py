"""The canary follow-up of `pause_rollout: {undo_if_firing_after: 10m}`: pause now, roll back if it stays bad.

The runbook's canary step: a canary whose error alert fires is paused at once (the runner's first
action); if the alert has not resolved when the window ends, the rollout is undone, and the same
write resumes the Deployment (`rollout_undo` with `resume_paused`), so the old ReplicaSet scales back
up. If the alert resolves in time the rollout stays paused: resuming a canary is a human's call.
Waiting uses the injected clock, so a ten-minute window takes no time in tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.model import ActionResult, ActionSpec, Decision


class Resolutions(Protocol):
    def resolved_since(self, fingerprint: str, since: datetime) -> bool: ...


Run = Callable[[ActionSpec], Awaitable[ActionResult]]

UNDO = ActionSpec(
    kind="rollout_undo",
    params={"only_if_rolled_out_within": None, "to_revision": None, "resume_paused": True},
)


def canary_window_s(actions: tuple[ActionSpec, ...]) -> float | None:
    """The window of the first `pause_rollout` that asks to undo a canary that stays bad."""
    for spec in actions:
        window = spec.params.get("undo_if_firing_after") if spec.kind == "pause_rollout" else None
        if window:
            return float(window)
    return None


async def undo_if_still_firing(
    decision: Decision,
    *,
    window_s: float,
    started_at: datetime,
    clock: Clock,
    resolutions: Resolutions,
    poll_s: float,
    run: Run,
) -> tuple[ActionResult | None, str]:
    """(the undo's result or None, what happened). Raises what the undo raises (the runner maps it)."""
    deadline = started_at + timedelta(seconds=window_s)
    window = format_duration(window_s)
    while not resolutions.resolved_since(decision.alert.fingerprint, started_at):
        if clock.now() >= deadline:
            result = await run(UNDO)
            return result, f"still firing {window} after the pause: {result.summary}"
        await clock.sleep(min(poll_s, max((deadline - clock.now()).total_seconds(), 0.0)) or poll_s)
    return (
        None,
        f"alert resolved within {window} of the pause: the rollout stays paused for a human to resume",
    )
