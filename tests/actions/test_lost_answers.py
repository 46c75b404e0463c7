"""A write that landed though its answer was lost (504 after commit): the retry must not apply it again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from remediator.actions.attempts import ALREADY_APPLIED, Attempts
from remediator.actions.kube import KubeActions, open_kube
from remediator.actions.retry import RetryPolicy, call_with_retries
from remediator.clock import FakeClock
from remediator.config import KubeSettings
from remediator.errors import TransientActionError
from remediator.model import ActionKind, ActionResult, ActionSpec, ExecutionId, Target
from remediator.testing.fake_kube import FakeKubeServer

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POLICY = RetryPolicy(attempts=3, backoff_min_s=0.0, backoff_max_s=0.0)


def cart() -> Target:
    return Target(kind="Deployment", namespace="shop", name="cart")


async def run_with_retries(
    kube: KubeActions, clock: FakeClock, kind: ActionKind, **params: Any
) -> tuple[ActionResult, int]:
    """What the runner does for one action: every attempt shares one execution-scoped `Attempts`."""
    scope = Attempts(execution_id=ExecutionId(7), started_at=clock.now())

    async def attempt() -> ActionResult:
        clock.advance(5)  # each attempt is later: a fresh clock.now() would stamp a new value
        return await kube.execute(ActionSpec(kind=kind, params=params), cart(), attempts=scope)

    return await call_with_retries(attempt, policy=POLICY, clock=clock)


async def replica_sets(fake: FakeKubeServer, kube: KubeActions, clock: FakeClock) -> int:
    """The Deployment's ReplicaSets once the fake controllers have caught up (they act on a request)."""
    clock.advance(30)
    await kube.rollout_status(cart())
    return len(fake.list("ReplicaSet", "shop"))


def patches(fake: FakeKubeServer) -> list[Any]:
    """Every PATCH sent to a workload, faulted or not (`writes` lists only the 2xx ones)."""
    return [r for r in fake.requests if r.method == "PATCH" and "/events" not in r.path]


async def test_fault_after_write_applies_the_write_then_fails_the_answer(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "cart", replicas=2)
    fake_kube.inject(status=504, method="PATCH", path=r"/scale$", after_write=True)
    with pytest.raises(TransientActionError):
        await kube_actions.execute(ActionSpec(kind="scale", params={"to": 5}), cart())
    deployment = fake_kube.get("Deployment", "shop", "cart")
    assert deployment is not None and deployment["spec"]["replicas"] == 5
    assert [w.status for w in patches(fake_kube)] == [504]


def test_fault_after_write_needs_an_error_status(fake_kube: FakeKubeServer) -> None:
    with pytest.raises(ValueError, match="after_write"):
        fake_kube.inject(status=0, delay=1.0, after_write=True)


async def test_restart_retried_after_a_lost_answer_rolls_out_once(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart")
    before = await replica_sets(fake_kube, kube_actions, clock)
    fake_kube.inject(status=504, method="PATCH", path=r"/deployments/cart$", after_write=True)
    result, used = await run_with_retries(kube_actions, clock, "rollout_restart")
    assert used == 2
    assert ALREADY_APPLIED in result.summary
    assert await replica_sets(fake_kube, kube_actions, clock) == before + 1
    deployment = fake_kube.get("Deployment", "shop", "cart")
    assert deployment is not None
    stamped = deployment["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert [c.after for c in result.changes] == [stamped]


async def test_restart_retried_after_an_unapplied_error_restarts_once(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart")
    before = await replica_sets(fake_kube, kube_actions, clock)
    fake_kube.inject(status=503, method="PATCH", path=r"/deployments/cart$")
    result, used = await run_with_retries(kube_actions, clock, "rollout_restart")
    assert used == 2
    assert ALREADY_APPLIED not in result.summary
    assert await replica_sets(fake_kube, kube_actions, clock) == before + 1


@pytest.mark.parametrize(("params", "expected"), [({"by": 2}, 6), ({"factor": 1.5}, 6)])
async def test_relative_scale_retried_after_a_lost_answer_scales_once(
    fake_kube: FakeKubeServer,
    kube_actions: KubeActions,
    clock: FakeClock,
    params: dict[str, Any],
    expected: int,
) -> None:
    fake_kube.add_deployment("shop", "cart", replicas=4)
    fake_kube.inject(status=504, method="PATCH", path=r"/scale$", after_write=True)
    result, used = await run_with_retries(kube_actions, clock, "scale", **params)
    deployment = fake_kube.get("Deployment", "shop", "cart")
    assert deployment is not None and deployment["spec"]["replicas"] == expected
    assert used == 2
    assert [(c.before, c.after) for c in result.changes] == [(4, expected)]
    assert ALREADY_APPLIED in result.summary
    assert [r.status for r in patches(fake_kube)] == [504]


async def test_undo_retried_after_a_lost_answer_goes_back_one_revision(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart", image="cart:v3", revisions=["cart:v1", "cart:v2"])
    fake_kube.inject(status=504, method="PATCH", path=r"/deployments/cart$", after_write=True)
    result, used = await run_with_retries(kube_actions, clock, "rollout_undo")
    deployment = fake_kube.get("Deployment", "shop", "cart")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "cart:v2"
    assert used == 2
    assert ALREADY_APPLIED in result.summary
    assert [r.status for r in patches(fake_kube)] == [504]


async def test_restart_whose_write_lands_after_its_retry_rolls_out_once(
    fake_kube: FakeKubeServer, kubeconfig: Path, clock: FakeClock
) -> None:
    """A starved API server: the first PATCH outlives the client's timeout, the retry re-reads the
    object (not patched yet) and sends its own; then the first one lands. Only one of them may."""
    fake_kube.add_deployment("shop", "cart")
    settings = KubeSettings(mode="kubeconfig", kubeconfig=kubeconfig, call_timeout=0.2)
    async with open_kube(settings, clock=clock) as kube:
        assert kube is not None
        before = await replica_sets(fake_kube, kube, clock)
        late = asyncio.Event()
        fake_kube.inject(status=0, method="PATCH", path=r"/deployments/cart$", hold=late)
        result, used = await run_with_retries(kube, clock, "rollout_restart")
        late.set()  # the first PATCH is handled now, after the retry's
        async with asyncio.timeout(10):
            while any(r.status == 0 for r in patches(fake_kube)):  # noqa: ASYNC110 - the fake's own task
                await asyncio.sleep(0.01)
        assert used == 2
        assert [r.status for r in patches(fake_kube)] == [409, 200]  # in the order the server answered
        assert len([w for w in fake_kube.writes if w.method == "PATCH" and "/events" not in w.path]) == 1
        assert await replica_sets(fake_kube, kube, clock) == before + 1
        deployment = fake_kube.get("Deployment", "shop", "cart")
        assert deployment is not None
        stamped = deployment["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        assert [c.after for c in result.changes] == [stamped]
