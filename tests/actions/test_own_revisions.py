"""remediator's own revisions are never taken for a deploy, and an undo never silently reverts its mitigation.

The fallback flag (set_env), a hotfix (set_image) and a restart each make a new ReplicaSet revision,
just as a deploy does. These tests drive the real actions against the fake cluster, with the deploys
made as a human makes them (a PATCH through the API, not by remediator), in both orders.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from remediator.actions.kube import KubeActions
from remediator.clock import FakeClock
from remediator.errors import NotApplicableError
from remediator.model import ActionKind, ActionSpec, Target
from remediator.store.revisions import OwnRevision
from remediator.testing.fake_kube import TOKEN, FakeKubeServer

CHECKOUT = Target(kind="Deployment", namespace="shop", name="checkout")
UNDO = ActionSpec(kind="rollout_undo", params={"only_if_rolled_out_within": 7200.0, "to_revision": None})
FLAG = ActionSpec(kind="set_env", params={"name": "FALLBACK_ENABLED", "value": "true", "container": None})


def spec(kind: ActionKind, **params: Any) -> ActionSpec:
    return ActionSpec(kind=kind, params=params)


def app_container(fake: FakeKubeServer) -> dict[str, Any]:
    dep = fake.get("Deployment", "shop", "checkout")
    assert dep is not None
    [container] = dep["spec"]["template"]["spec"]["containers"]
    return dict(container)


def image(fake: FakeKubeServer) -> str:
    return str(app_container(fake)["image"])


def env(fake: FakeKubeServer) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in app_container(fake).get("env") or []}


async def human_deploys(fake: FakeKubeServer, new_image: str) -> None:
    """`kubectl set image` by a person: a strategic merge patch through the API, not remediator's."""
    url = f"{fake.url}/apis/apps/v1/namespaces/shop/deployments/checkout"
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": new_image}]}}}}
    headers = {"Content-Type": "application/strategic-merge-patch+json", "Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        resp = await http.patch(url, data=json.dumps(body), headers=headers)
        assert resp.status == 200, await resp.text()
    fake.complete_rollouts()


async def settle(fake: FakeKubeServer, clock: FakeClock) -> None:
    clock.advance(1)
    fake.complete_rollouts()


async def test_a_fallback_flag_set_after_a_deploy_is_not_reverted_by_the_5xx_rollback(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """Deploy v2, then the upstream alert sets the fallback flag (a new revision), then 5xx: kubectl's
    undo would go back one revision, dropping the flag and keeping the bad deploy."""
    fake_kube.add_deployment(
        "shop", "checkout", image="checkout:v2", revisions=["checkout:v1"], rolled_out_at=clock.now()
    )
    clock.advance(600)
    await kube_actions.execute(FLAG, CHECKOUT)
    await settle(fake_kube, clock)
    writes = len(fake_kube.writes)
    for call in (kube_actions.plan, kube_actions.execute):
        with pytest.raises(NotApplicableError, match=r"^would_revert_mitigation: ") as refused:
            await call(UNDO, CHECKOUT)
    assert "back to revision 1" in str(refused.value)
    assert "revision 3: set FALLBACK_ENABLED='true'" in str(refused.value)
    assert "kubectl rollout undo deployment/checkout -n shop --to-revision=1" in str(refused.value)
    assert len(fake_kube.writes) == writes, "nothing written"
    assert env(fake_kube)["FALLBACK_ENABLED"] == "true" and image(fake_kube) == "checkout:v2"


async def test_a_deploy_after_the_flag_is_rolled_back_to_the_flagged_revision(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """Flag first (remediator's revision 2), then a deploy of v3 (kept the flag), then 5xx: the deploy
    is undone, back to v2 with the flag: the mitigation survives the rollback."""
    fake_kube.add_deployment("shop", "checkout", image="checkout:v2", revisions=["checkout:v1"])
    await kube_actions.execute(FLAG, CHECKOUT)
    await settle(fake_kube, clock)
    clock.advance(600)
    await human_deploys(fake_kube, "checkout:v3")
    await settle(fake_kube, clock)
    assert env(fake_kube)["FALLBACK_ENABLED"] == "true", "the deploy kept the flag, as kubectl apply does"
    done = await kube_actions.execute(UNDO, CHECKOUT)
    assert "from revision 4 (checkout:v3) to revision 3 (checkout:v2)" in done.summary
    assert image(fake_kube) == "checkout:v2" and env(fake_kube)["FALLBACK_ENABLED"] == "true"


async def test_a_restart_by_remediator_is_not_a_deploy_for_the_rollback(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """Deployed 3h ago, restarted by remediator a minute ago, then 5xx: no recent deploy, so no undo
    (before: the restart's revision looked like a fresh deploy and the undo reverted the restart)."""
    fake_kube.add_deployment(
        "shop",
        "checkout",
        image="checkout:v2",
        revisions=["checkout:v1"],
        rolled_out_at=clock.now() - timedelta(hours=3),
    )
    await kube_actions.execute(spec("rollout_restart", unless_rolled_out_within=None), CHECKOUT)
    await settle(fake_kube, clock)
    with pytest.raises(
        NotApplicableError, match=r"^last deploy \(revision 2\) 3h(1s)? ago, not within 2h"
    ) as e:
        await kube_actions.plan(UNDO, CHECKOUT)
    assert "remediator's own, not deploys (revision 3 by rollout_restart)" in str(e.value)
    # And a rule restarting "unless rolled out within 2h" may restart again: a restart is no deploy.
    planned = await kube_actions.plan(spec("rollout_restart", unless_rolled_out_within=7200.0), CHECKOUT)
    assert planned.summary == "would restart shop/Deployment/checkout"


async def test_the_rollback_after_a_deploy_and_a_restart_undoes_the_deploy_not_the_restart(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """Deploy v2, remediator restarts it, 5xx: back to v1, the revision the deploy replaced (kubectl's
    undo would go back to the restart's parent, v2 again, and the bad deploy would stay)."""
    fake_kube.add_deployment(
        "shop", "checkout", image="checkout:v2", revisions=["checkout:v1"], rolled_out_at=clock.now()
    )
    clock.advance(300)
    await kube_actions.execute(spec("rollout_restart", unless_rolled_out_within=None), CHECKOUT)
    await settle(fake_kube, clock)
    done = await kube_actions.execute(UNDO, CHECKOUT)
    assert "to revision 1 (checkout:v1)" in done.summary
    assert image(fake_kube) == "checkout:v1"


async def test_a_hotfix_image_after_a_deploy_is_a_mitigation_too(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment(
        "shop", "checkout", image="checkout:v2", revisions=["checkout:v1"], rolled_out_at=clock.now()
    )
    await kube_actions.execute(spec("set_image", image="checkout:v2-hotfix1", container=None), CHECKOUT)
    await settle(fake_kube, clock)
    with pytest.raises(NotApplicableError, match="would_revert_mitigation"):
        await kube_actions.plan(UNDO, CHECKOUT)
    assert image(fake_kube) == "checkout:v2-hotfix1"


async def test_each_template_written_is_journaled_with_its_kind(
    fake_kube: FakeKubeServer, clock: FakeClock, kube_actions: KubeActions
) -> None:
    """What the journal keeps: one record per write, matching the ReplicaSet the controller then made."""
    recorded: list[OwnRevision] = []

    class Journal:
        async def record_own_revision(self, revision: OwnRevision) -> None:
            recorded.append(revision)

        async def own_revisions(self, target: str) -> list[OwnRevision]:
            return [r for r in recorded if r.target == target]

    fake_kube.add_deployment("shop", "checkout", image="checkout:v2", revisions=["checkout:v1"])
    own = KubeActions(kube_actions._kube, clock=clock, own=Journal())
    await own.execute(FLAG, CHECKOUT)
    await settle(fake_kube, clock)
    await own.execute(spec("rollout_restart", unless_rolled_out_within=None), CHECKOUT)
    await settle(fake_kube, clock)
    await own.execute(spec("scale", to=3, by=None, factor=None, min=1, max=5, allow_zero=False), CHECKOUT)
    assert [(r.target, r.kind, r.action) for r in recorded] == [
        ("shop/Deployment/checkout", "mitigation", "set_env"),
        ("shop/Deployment/checkout", "restart", "rollout_restart"),
    ], "scale makes no revision"
    from remediator.actions.kube.own import template_fingerprint

    sets = {template_fingerprint(rs["spec"]["template"]) for rs in fake_kube.list("ReplicaSet", "shop")}
    assert {r.template for r in recorded} <= sets, "each record names a ReplicaSet the controller made"
