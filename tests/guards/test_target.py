"""Target: never touch a workload or namespace that opted out; skip an action that is not needed."""

from __future__ import annotations

from remediator.errors import NotApplicableError, RefusedError, TransientActionError, TryLaterError
from remediator.guards.target import TargetGuard
from remediator.model import ActionResult, ActionSpec, Outcome, Target
from tests.guards import proposal


class FakeCluster:
    """The guard's view of the cluster: an opt-out reason, and what a plan would raise."""

    def __init__(self, *, opted_out: str | None = None, plan_error: Exception | None = None) -> None:
        self._opted_out = opted_out
        self._plan_error = plan_error
        self.plans: list[ActionSpec] = []

    async def opted_out(self, target: Target) -> str | None:
        return self._opted_out

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult:
        self.plans.append(spec)
        if self._plan_error is not None:
            raise self._plan_error
        return ActionResult(kind=spec.kind, target=target, changes=(), summary="would act", applied=False)


async def test_an_opted_out_target_is_never_touched() -> None:
    cluster = FakeCluster(opted_out="namespace 'shop' has label remediator.io/disabled=true")
    verdict = await TargetGuard(kube=cluster).check(proposal())
    assert verdict is not None and verdict.outcome is Outcome.TARGET_OPTED_OUT
    assert "remediator.io/disabled" in verdict.reason and cluster.plans == []


async def test_an_action_that_is_not_needed_is_skipped_with_the_reason() -> None:
    cluster = FakeCluster(plan_error=NotApplicableError("already at 4 replicas (max 4)"))
    verdict = await TargetGuard(kube=cluster).check(proposal())
    assert verdict is not None and verdict.outcome is Outcome.NOT_APPLICABLE
    assert verdict.reason == "not needed: already at 4 replicas (max 4)"


async def test_an_unreadable_target_or_no_cluster_lets_the_executor_decide() -> None:
    assert (
        await TargetGuard(kube=FakeCluster(plan_error=TransientActionError("timeout"))).check(proposal())
        is None
    )
    assert await TargetGuard(kube=None).check(proposal()) is None
    cluster = FakeCluster()
    assert await TargetGuard(kube=cluster).check(proposal()) is None
    assert [s.kind for s in cluster.plans] == ["rollout_restart"]


async def test_a_budget_refusing_an_eviction_now_is_a_transient_denial() -> None:
    """The decider defers a transient denial: the eviction is tried again later, never dropped or failed."""
    refusal = TryLaterError("create pods/eviction 'cart-1' in 'shop': refused by a PodDisruptionBudget")
    verdict = await TargetGuard(kube=FakeCluster(plan_error=refusal)).check(proposal())
    assert verdict is not None and verdict.transient
    assert verdict.reason.startswith("try later: ") and "PodDisruptionBudget" in verdict.reason
    assert verdict.until == "the disruption budget allows it", "not 'a slot frees': no slot is involved"


async def test_a_refusal_for_safety_is_recorded_with_its_own_reason_code() -> None:
    refusal = RefusedError("would_revert_mitigation: rolling shop/Deployment/checkout back to revision 1 ...")
    verdict = await TargetGuard(kube=FakeCluster(plan_error=refusal)).check(proposal())
    assert verdict is not None and verdict.outcome is Outcome.NOT_APPLICABLE and not verdict.transient
    assert verdict.reason.startswith("would_revert_mitigation: "), "not 'not needed': it may well be needed"
