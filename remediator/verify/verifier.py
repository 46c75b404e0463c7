"""The verifier: did the action work? Bounded waits, in the injected clock's time.

After a successful action the rule may ask to wait until the rollout is complete
(observedGeneration and updated/available replicas, as `kubectl rollout status`)
and/or until the alert resolves. Not verified in time counts as a failure: it
feeds the circuit breaker and runs the rule's `on_failure` steps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from remediator.actions.protocols import Verification
from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.engine.resolutions import ResolutionBoard
from remediator.errors import RemediatorError
from remediator.model import Decision, Target
from remediator.rules import Rule


class RolloutReader(Protocol):
    async def rollout_status(self, target: Target) -> _Status: ...


class _Status(Protocol):
    @property
    def complete(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class Verifier:
    def __init__(
        self, *, kube: RolloutReader | None, resolutions: ResolutionBoard, clock: Clock, poll_s: float
    ) -> None:
        self._kube = kube
        self._resolutions = resolutions
        self._clock = clock
        self._poll_s = poll_s

    async def verify(
        self, decision: Decision, rule: Rule | None, *, started_at: datetime
    ) -> Verification | None:
        """None when the rule asks for no verification."""
        spec = rule.verify if rule is not None else None
        if spec is None or decision.target is None:
            return None
        done: list[str] = []
        if spec.rollout_complete_within_s is not None and self._kube is not None:
            deadline = started_at + timedelta(seconds=spec.rollout_complete_within_s)
            reason = "not checked"
            while True:
                try:
                    status = await self._kube.rollout_status(decision.target)
                    if status.complete:
                        break
                    reason = status.reason
                except RemediatorError as e:
                    reason = f"cannot read rollout status: {e}"
                if self._clock.now() >= deadline:
                    return Verification(
                        ok=False,
                        detail=f"not verified: rollout not complete after "
                        f"{format_duration(spec.rollout_complete_within_s)} ({reason})",
                    )
                await self._clock.sleep(self._poll_s)
            done.append("rollout complete")
        if spec.resolved_within_s is not None:
            deadline = started_at + timedelta(seconds=spec.resolved_within_s)
            while not self._resolutions.resolved_since(decision.alert.fingerprint, started_at):
                if self._clock.now() >= deadline:
                    return Verification(
                        ok=False,
                        detail=f"not verified: alert still firing {format_duration(spec.resolved_within_s)} "
                        "after the action",
                    )
                await self._clock.sleep(self._poll_s)
            done.append("alert resolved")
        return Verification(ok=True, detail="verified: " + ", ".join(done)) if done else None
