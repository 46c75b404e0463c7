"""set_image, pause_rollout / resume_rollout and the canary rollback, on the wire (fake API server)."""

from __future__ import annotations

import pytest

from remediator.actions.kube import KubeActions, static_plan
from remediator.clock import FakeClock
from remediator.errors import NotApplicableError, PermanentActionError
from remediator.model import Change
from remediator.testing.fake_kube import FakeKubeServer
from tests.actions.test_kube import action_writes, body, containers, deploy, plan_then_execute, spec


async def test_set_image_patches_one_container_and_rolls_it_out(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "api", image="registry.io/shop/api:v7")
    _, done = await plan_then_execute(
        fake_kube,
        kube_actions,
        spec("set_image", image="registry.io/shop/api:v7-hotfix1", container=None),
        deploy("api"),
    )
    assert done.changes == (
        Change(
            path="spec.template.spec.containers[app].image",
            before="registry.io/shop/api:v7",
            after="registry.io/shop/api:v7-hotfix1",
        ),
    )
    assert done.summary == (
        "set image of shop/Deployment/api container app: "
        "registry.io/shop/api:v7 -> registry.io/shop/api:v7-hotfix1"
    )
    [write] = action_writes(fake_kube)
    assert write.content_type == "application/strategic-merge-patch+json"
    assert body(write) == {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "image": "registry.io/shop/api:v7-hotfix1"}]}
            }
        }
    }
    assert (
        containers(fake_kube.get("Deployment", "shop", "api"))["app"]["image"]
        == "registry.io/shop/api:v7-hotfix1"
    )
    clock.advance(60)  # the controller rolls the new image out
    status = await kube_actions.rollout_status(deploy("api"))
    assert status.complete, status.reason


async def test_set_image_needs_the_container_named_when_there_are_several(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1", containers=("app", "proxy"))
    with pytest.raises(PermanentActionError, match=r"has 2 containers \(app, proxy\): name the one"):
        await kube_actions.plan(spec("set_image", image="api:v2", container=None), deploy("api"))
    with pytest.raises(PermanentActionError, match="container 'web' not found"):
        await kube_actions.plan(spec("set_image", image="api:v2", container="web"), deploy("api"))
    done = await kube_actions.execute(spec("set_image", image="api:v2", container="proxy"), deploy("api"))
    got = containers(fake_kube.get("Deployment", "shop", "api"))
    assert (got["app"]["image"], got["proxy"]["image"]) == ("api:v1", "api:v2")
    assert done.applied


async def test_set_image_same_image_is_not_applicable_and_a_bad_reference_never_leaves(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    with pytest.raises(NotApplicableError, match="already runs api:v1"):
        await kube_actions.execute(spec("set_image", image="api:v1", container=None), deploy("api"))
    with pytest.raises(PermanentActionError, match="not a valid image reference"):
        await kube_actions.execute(spec("set_image", image="api:v1\nevil", container=None), deploy("api"))
    assert action_writes(fake_kube) == []


async def test_pause_then_resume(fake_kube: FakeKubeServer, kube_actions: KubeActions) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v2", revisions=["api:v1"])
    _, paused = await plan_then_execute(fake_kube, kube_actions, spec("pause_rollout"), deploy("api"))
    assert paused.changes == (Change(path="spec.paused", before=False, after=True),)
    assert paused.summary == "paused the rollout of shop/Deployment/api"
    [write] = action_writes(fake_kube)
    assert write.content_type == "application/merge-patch+json"
    assert body(write)["spec"] == {"paused": True}
    assert "resourceVersion" in body(write)["metadata"], "a concurrent edit must be a 409, not overwritten"
    dep = fake_kube.get("Deployment", "shop", "api")
    assert dep is not None and dep["spec"]["paused"] is True
    with pytest.raises(NotApplicableError, match="already paused"):
        await kube_actions.plan(spec("pause_rollout"), deploy("api"))
    with pytest.raises(PermanentActionError, match="can't restart paused deployment"):
        await kube_actions.plan(spec("rollout_restart"), deploy("api"))

    resumed = await kube_actions.execute(spec("resume_rollout"), deploy("api"))
    assert resumed.changes == (Change(path="spec.paused", before=True, after=False),)
    with pytest.raises(NotApplicableError, match="already not paused"):
        await kube_actions.plan(spec("resume_rollout"), deploy("api"))


async def test_pause_only_on_deployments(fake_kube: FakeKubeServer, kube_actions: KubeActions) -> None:
    fake_kube.add_statefulset("shop", "redis", image="redis:7")
    with pytest.raises(PermanentActionError, match="only Deployments can be paused"):
        await kube_actions.plan(spec("pause_rollout"), deploy("redis", "StatefulSet"))


async def test_undo_of_a_paused_canary_resumes_it_in_the_same_write(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v2", revisions=["api:v1"], paused=True)
    with pytest.raises(PermanentActionError, match="cannot rollback a paused deployment"):
        await kube_actions.plan(spec("rollout_undo"), deploy("api"))
    done = await kube_actions.execute(spec("rollout_undo", resume_paused=True), deploy("api"))
    assert Change(path="spec.paused", before=True, after=False) in done.changes
    [write] = action_writes(fake_kube)
    assert {"op": "replace", "path": "/spec/paused", "value": False} in body(write)
    dep = fake_kube.get("Deployment", "shop", "api")
    assert dep is not None and dep["spec"]["paused"] is False
    assert containers(dep)["app"]["image"] == "api:v1"


def test_static_plans_of_the_new_kinds() -> None:
    target = deploy("api")
    assert static_plan(spec("set_image", image="api:v2", container=None), target).summary == (
        "would set image api:v2 on shop/Deployment/api (container <only>) (cluster state unknown)"
    )
    assert static_plan(spec("pause_rollout"), target).changes == (
        Change(path="spec.paused", before=None, after=True),
    )
    job = static_plan(spec("run_job", image="redis:7", command=["redis-cli", "FLUSHDB"]), target)
    assert job.summary == "would run a Job in shop: redis:7 redis-cli FLUSHDB (cluster state unknown)"
