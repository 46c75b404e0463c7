"""Blast radius at the target: opt-outs and "is this action still needed?", read from the cluster.

Last before approval because it costs API reads: a workload or namespace labelled
or annotated `remediator.io/disabled: "true"` is never touched, and an action whose
precondition does not hold (no recent rollout to undo, already at the replica
bound, the flag already set) is skipped with that reason instead of acting.
If the target cannot be read, the executor will meet the same error and retry it.
A precondition that should hold again soon (a PodDisruptionBudget allowing no eviction now) is a
transient denial: the decision is deferred and decided again, like a busy target's.
"""

from __future__ import annotations

from typing import Protocol

from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.errors import NotApplicableError, RefusedError, RemediatorError, TryLaterError
from remediator.model import ActionResult, ActionSpec, Decision, Outcome, Target


class TargetReader(Protocol):
    async def opted_out(self, target: Target) -> str | None: ...

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult: ...


class TargetGuard:
    name = "target"

    def __init__(self, *, kube: TargetReader | None) -> None:
        self._kube = kube

    async def check(self, proposal: Proposal) -> Verdict | None:
        if self._kube is None:
            return None
        try:
            opted_out = await self._kube.opted_out(proposal.target)
            if opted_out:
                return Verdict(outcome=Outcome.TARGET_OPTED_OUT, reason=opted_out)
            for spec in proposal.actions:
                await self._kube.plan(spec, proposal.target)
        except TryLaterError as e:
            return Verdict(
                outcome=Outcome.NOT_APPLICABLE,
                reason=f"try later: {e}",
                transient=True,
                until="the disruption budget allows it",
            )
        except RefusedError as e:
            return Verdict(outcome=Outcome.NOT_APPLICABLE, reason=str(e))
        except NotApplicableError as e:
            return Verdict(outcome=Outcome.NOT_APPLICABLE, reason=f"not needed: {e}")
        except RemediatorError:
            return None
        return None

    def record(self, decision: Decision) -> Undo | None:
        return None
