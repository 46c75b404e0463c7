"""delete_pod evicts by default: a PodDisruptionBudget that allows no disruption defers the decision.

The whole daemon against the fake cluster: an OOM alert names a pod of `checkout`, whose budget keeps
all three pods available. The decision is recorded as `deferred` ("try later"), nothing is evicted,
nothing fails and no retry hammers the API server; once the owners relax the budget, the waiting
decision is made again and the pod is evicted, respecting the budget.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import DeferralSettings, Settings
from remediator.model import ExecutionStatus
from remediator.testing.fake_kube import TOKEN, FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth

RULES = """
rules:
  - name: delete-oom-killed-pod
    match: ['alertname = "PodOOMKilled"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - delete_pod: {pod: "{{ labels.pod }}"}
    guards: GUARDS
"""
ONE_AN_HOUR = "{max_actions: {count: 1, per: 1h}}"


@pytest.fixture
def rule_guards() -> str:
    return "{}"


@pytest.fixture
def rules_dir(tmp_path: Path, rule_guards: str) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.yaml").write_text(textwrap.dedent(RULES).replace("GUARDS", rule_guards))
    return d


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[Application]:
    quick = settings.model_copy(update={"deferral": DeferralSettings(retry_every=5.0)})
    async with open_app(quick, clock=clock) as app:
        yield app


def evictions(kube: FakeKubeServer) -> list[str]:
    return [w.path.split("/")[-2] for w in kube.writes if w.path.endswith("/eviction")]


async def test_a_budget_that_allows_no_disruption_defers_the_eviction_until_it_does(
    app: Application,
    fake_kube: FakeKubeServer,
    clock: FakeClock,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    fake_kube.add_deployment("shop", "cart", replicas=3)
    fake_kube.add_pdb("shop", "cart", selector={"app": "cart"}, min_available=3)
    pod = min(
        p["metadata"]["name"]
        for p in fake_kube.list("Pod", "shop")
        if p["metadata"]["name"].startswith("cart")
    )
    client = await aiohttp_client(build_web_app(app.api_state()))
    alert = am_alert("PodOOMKilled", deployment="cart", pod=pod)
    r = await client.post("/webhook/alertmanager", data=am_payload(alert), headers=auth())
    assert r.status == 202
    await app.processor.drained()
    await app.drained()
    [decision] = await app.journal.decisions()
    assert decision["outcome"] == "deferred"
    assert decision["reason"].startswith("deferred until the disruption budget allows it: try later: ")
    assert "refused by a PodDisruptionBudget" in decision["reason"]
    assert evictions(fake_kube) == []
    assert await app.journal.executions() == [], "nothing ran, so nothing failed"
    # Waiting, it asks again every `retry_every` with a dry-run eviction, never a real one.
    await clock.run(12)
    await app.drained()
    assert evictions(fake_kube) == []
    # The owners relax the budget (as kubectl would: a merge patch through the API).
    url = f"{fake_kube.url}/apis/policy/v1/namespaces/shop/poddisruptionbudgets/cart"
    async with aiohttp.ClientSession() as http:
        resp = await http.patch(
            url,
            data=json.dumps({"spec": {"minAvailable": 2}}),
            headers={"Content-Type": "application/merge-patch+json", "Authorization": f"Bearer {TOKEN}"},
        )
        assert resp.status == 200, await resp.text()
    for _ in range(100):
        await clock.run(5)
        await app.drained()
        if evictions(fake_kube):
            break
        await asyncio.sleep(0.01)
    assert evictions(fake_kube) == [pod]
    outcomes = [d["outcome"] for d in reversed(await app.journal.decisions())]
    assert outcomes == ["deferred", "act"]
    [execution] = await app.journal.executions()
    assert execution.status is ExecutionStatus.SUCCEEDED
    assert f"evicted 1 pod in shop (pod {pod})" in execution.summary


async def _patch_budget(kube: FakeKubeServer, min_available: int) -> None:
    """The owners change the budget, as kubectl would: a merge patch through the API."""
    url = f"{kube.url}/apis/policy/v1/namespaces/shop/poddisruptionbudgets/cart"
    async with aiohttp.ClientSession() as http:
        resp = await http.patch(
            url,
            data=json.dumps({"spec": {"minAvailable": min_available}}),
            headers={"Content-Type": "application/merge-patch+json", "Authorization": f"Bearer {TOKEN}"},
        )
        assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("rule_guards", ["{}", ONE_AN_HOUR], ids=["defaults", "one-act-an-hour"])
async def test_a_budget_spent_between_the_plan_and_the_eviction_is_try_later_not_a_cooldown(
    app: Application,
    fake_kube: FakeKubeServer,
    clock: FakeClock,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    """The plan's dry-run eviction is allowed, then the budget is spent before the real eviction (its
    429 `DisruptionBudget`): the execution is skipped as try-later, holds no cooldown, and the decision
    waits again; once the budget allows it, the pod is evicted, exactly once. The refused act did
    nothing, so it counts toward no rate limit either: with one act an hour, the eviction still acts."""
    fake_kube.add_deployment("shop", "cart", replicas=3)
    fake_kube.add_pdb("shop", "cart", selector={"app": "cart"}, min_available=2)
    pod = min(
        p["metadata"]["name"]
        for p in fake_kube.list("Pod", "shop")
        if p["metadata"]["name"].startswith("cart")
    )
    # The dry-run evictions (the decision's plan, then the execution's) go through; the real one is
    # held until the budget has been spent under it.
    passed = asyncio.Event()
    passed.set()
    fake_kube.inject(status=0, method="POST", path=r"/eviction$", hold=passed, times=2)
    real = asyncio.Event()
    held = fake_kube.inject(status=0, method="POST", path=r"/eviction$", hold=real, times=1)
    client = await aiohttp_client(build_web_app(app.api_state()))
    alert = am_alert("PodOOMKilled", deployment="cart", pod=pod)
    r = await client.post("/webhook/alertmanager", data=am_payload(alert), headers=auth())
    assert r.status == 202
    await app.processor.drained()
    for _ in range(500):
        if held.hits:
            break
        await asyncio.sleep(0.01)
    assert held.hits == 1, "the real eviction reached the API server"
    [request] = [q for q in fake_kube.requests if q.path.endswith("/eviction") and q.status == 0]
    assert not request.dry_run
    await _patch_budget(fake_kube, 3)  # the budget is spent meanwhile: no disruption allowed
    real.set()
    await app.drained()
    [refused] = await app.journal.executions()
    assert refused.status is ExecutionStatus.SKIPPED
    assert refused.error is not None and refused.error.startswith("try later: ")
    assert "refused by a PodDisruptionBudget" in refused.error
    assert evictions(fake_kube) == []
    outcomes = [d["outcome"] for d in reversed(await app.journal.decisions())]
    assert outcomes == ["act", "deferred"], "waiting again, not a cooldown"
    # While the budget allows nothing, it keeps waiting (dry-run evictions only).
    await clock.run(12)
    await app.drained()
    assert evictions(fake_kube) == []
    await _patch_budget(fake_kube, 2)
    for _ in range(100):
        await clock.run(5)
        await app.drained()
        if evictions(fake_kube):
            break
        await asyncio.sleep(0.01)
    assert evictions(fake_kube) == [pod]
    # Never more than once: the success holds the cooldown, and nothing waits any longer.
    await clock.run(60)
    await app.drained()
    assert evictions(fake_kube) == [pod]
    outcomes = [d["outcome"] for d in reversed(await app.journal.decisions())]
    assert outcomes == ["act", "deferred", "act"]
    assert [e.status for e in reversed(await app.journal.executions())] == [
        ExecutionStatus.SKIPPED,
        ExecutionStatus.SUCCEEDED,
    ]
