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
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.yaml").write_text(textwrap.dedent(RULES))
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
