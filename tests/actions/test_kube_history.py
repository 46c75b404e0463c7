"""Actions that read the rollout history wait until the controller has observed the latest spec.

Right after `kubectl set image` the Deployment has generation N+1 and no ReplicaSet for the new
template: the controller makes it a moment later. An undo in that window would pick the revision
*before* the last good one, and `unless_rolled_out_within` would date the last rollout by an old
ReplicaSet. Found by running the actions against the fake API server's realistic timing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from remediator.actions.kube import KubeActions
from remediator.clock import FakeClock
from remediator.errors import NotApplicableError, TransientActionError
from remediator.testing.fake_kube import FakeKubeServer
from tests.actions.test_kube import containers, deploy, spec


@pytest.fixture
async def apps(kubeconfig: Path) -> AsyncIterator[client.AppsV1Api]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api:
        yield client.AppsV1Api(api)


async def set_image(apps: client.AppsV1Api, image: str) -> None:
    """What `kubectl set image deployment/checkout app=<image>` sends."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    await apps.patch_namespaced_deployment("checkout", "shop", patch)


async def test_undo_right_after_a_deploy_waits_for_the_new_revision(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "checkout", image="checkout:v2", revisions=["checkout:v1"])
    await set_image(apps, "checkout:v3")  # the bad deploy

    with pytest.raises(TransientActionError, match="has not observed generation 2") as err:
        await kube_actions.execute(spec("rollout_undo"), deploy("checkout"))
    assert err.value.retry_after_s == 1.0
    assert [w.method for w in fake_kube.writes] == ["PATCH"], "only the deploy wrote"

    clock.advance(1)  # the controller made revision 3 for v3
    done = await kube_actions.execute(spec("rollout_undo"), deploy("checkout"))

    assert done.summary.endswith("from revision 3 (checkout:v3) to revision 2 (checkout:v2)")
    assert containers(fake_kube.get("Deployment", "shop", "checkout"))["app"]["image"] == "checkout:v2"


async def test_restart_unless_recent_waits_to_date_the_new_deploy(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "checkout", image="checkout:v2")  # rolled out a day ago
    await set_image(apps, "checkout:v3")
    restart = spec("rollout_restart", unless_rolled_out_within=600)

    with pytest.raises(TransientActionError, match="rollout history not current"):
        await kube_actions.execute(restart, deploy("checkout"))

    clock.advance(1)
    with pytest.raises(NotApplicableError, match="a restart would roll the new version again"):
        await kube_actions.execute(restart, deploy("checkout"))
