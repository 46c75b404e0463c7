"""Contract: a write is answered at once and the cluster catches up later, in steps, as a real one.

Sources: `pkg/controller/deployment` (sync.go, rolling.go: NewRSNewReplicas,
reconcileOldReplicaSets; progress.go: syncRolloutStatus, requeueStuckDeployment;
util/deployment_util.go: ResolveFenceposts, conditions and reasons), `pkg/controller/statefulset`
(OrderedReady, RollingUpdate from the highest ordinal). The apiserver answers a PATCH with the
object as stored, before any controller saw it.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer

RESTART = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}


def conds(dep: Any) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in dep.status.conditions or []}


def rs_sizes(kube: FakeKubeServer) -> dict[str, int]:
    return {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs["spec"]["replicas"]
        for rs in kube.list("ReplicaSet", "shop")
    }


async def test_reads_right_after_a_write_show_the_previous_rollout(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    old_rs = kube.list("ReplicaSet", "shop")[0]["metadata"]["name"]

    patched = await apps.patch_namespaced_deployment("web", "shop", RESTART)
    read = await apps.read_namespaced_deployment("web", "shop")

    # Real: generation 2, observedGeneration still 1, and the previous rollout's conditions:
    # Progressing NewReplicaSetAvailable naming the *old* ReplicaSet. A verifier that only checks
    # conditions or replica counts declares this rollout done before it started.
    for dep in (patched, read):
        assert (dep.metadata.generation, dep.status.observed_generation) == (2, 1)
        assert dep.status.updated_replicas == dep.status.available_replicas == 2
        assert conds(dep)["Progressing"] == (
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{old_rs}" has successfully progressed.',
        )
    clock.advance(0.5)  # the controllers' pass: a new ReplicaSet and its first pod, observedGeneration 2
    dep = await apps.read_namespaced_deployment("web", "shop")
    assert dep.status.observed_generation == 2
    new_rs = next(
        rs["metadata"]["name"] for rs in kube.list("ReplicaSet", "shop") if rs["metadata"]["name"] != old_rs
    )
    # (NewReplicaSetCreated lasts only until the new ReplicaSet's status moves: milliseconds.)
    assert conds(dep)["Progressing"] == (
        "True",
        "ReplicaSetUpdated",
        f'ReplicaSet "{new_rs}" is progressing.',
    )
    assert dep.status.updated_replicas == 1  # the new ReplicaSet's first (surge) pod, not yet ready


async def test_rolling_update_steps_within_max_surge_and_max_unavailable(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=4)  # 25%/25%: maxSurge 1, maxUnavailable 1
    await apps.patch_namespaced_deployment("web", "shop", RESTART)

    seen_both_serving = False
    reasons = set()
    for _ in range(60):
        clock.advance(0.5)
        sizes = rs_sizes(kube)
        dep = await apps.read_namespaced_deployment("web", "shop")
        # Real: never more than replicas + maxSurge pods wanted, never fewer than
        # replicas - maxUnavailable available.
        assert sum(sizes.values()) <= 5, sizes
        assert (dep.status.available_replicas or 0) >= 3, dep.status
        seen_both_serving |= all(sizes.get(r, 0) > 0 for r in ("1", "2"))
        reasons.add(conds(dep)["Progressing"][1])
    assert seen_both_serving, "the rollout went in steps, old and new ReplicaSets serving together"
    assert {"ReplicaSetUpdated", "NewReplicaSetAvailable"} <= reasons
    assert rs_sizes(kube) == {"1": 0, "2": 4}
    dep = await apps.read_namespaced_deployment("web", "shop")
    assert (dep.status.updated_replicas, dep.status.ready_replicas, dep.status.available_replicas) == (
        4,
        4,
        4,
    )
    assert dep.status.unavailable_replicas is None  # omitempty


async def test_pods_that_never_become_ready_exceed_the_progress_deadline(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2, image="web:v1")
    kube.set_pod_outcome("unready", image="web:v2")
    await apps.patch_namespaced_deployment(
        "web",
        "shop",
        {
            "spec": {
                "progressDeadlineSeconds": 60,
                "template": {"spec": {"containers": [{"name": "app", "image": "web:v2"}]}},
            }
        },
    )

    clock.advance(30)
    dep = await apps.read_namespaced_deployment("web", "shop")
    assert conds(dep)["Progressing"][:2] == ("True", "ReplicaSetUpdated")  # its first pod was created
    clock.advance(40)  # no progress for longer than progressDeadlineSeconds
    dep = await apps.read_namespaced_deployment("web", "shop")
    new_rs = next(
        rs["metadata"]["name"] for rs in kube.list("ReplicaSet", "shop") if "web:v2" in str(rs["spec"])
    )
    # Real: Progressing False, reason ProgressDeadlineExceeded, naming the new ReplicaSet; the old
    # pods still serve (maxUnavailable 25% of 2 rounds down to 0), so Available stays True.
    assert conds(dep)["Progressing"] == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{new_rs}" has timed out progressing.',
    )
    assert conds(dep)["Available"] == (
        "True",
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
    )
    assert (dep.status.updated_replicas, dep.status.available_replicas, dep.status.unavailable_replicas) == (
        1,
        2,
        1,
    )


async def test_crash_looping_pods_make_the_deployment_unavailable(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    kube.set_pod_outcome("crash", namespace="shop")
    clock.advance(1)

    dep = await apps.read_namespaced_deployment("web", "shop")
    # Real: Available False, MinimumReplicasUnavailable; readyReplicas omitted (0).
    assert conds(dep)["Available"] == (
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    )
    assert (dep.status.ready_replicas, dep.status.unavailable_replicas) == (None, 2)


async def test_scaling_up_becomes_available_as_pods_start(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    await apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 4}})

    clock.advance(1)
    dep = await apps.read_namespaced_deployment("web", "shop")
    assert (dep.status.replicas, dep.status.available_replicas, dep.status.unavailable_replicas) == (4, 2, 2)
    clock.advance(3)
    dep = await apps.read_namespaced_deployment("web", "shop")
    assert (dep.status.available_replicas, dep.status.unavailable_replicas) == (4, None)


async def test_a_paused_deployment_does_not_roll_out(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2, paused=True)
    await apps.patch_namespaced_deployment("web", "shop", RESTART)
    clock.advance(60)

    dep = await apps.read_namespaced_deployment("web", "shop")
    # Real: the template change is observed but not rolled out; Progressing Unknown DeploymentPaused.
    assert dep.status.observed_generation == 2
    assert conds(dep)["Progressing"] == ("Unknown", "DeploymentPaused", "Deployment is paused")
    assert len(kube.list("ReplicaSet", "shop")) == 1


async def test_statefulset_updates_one_pod_at_a_time_from_the_highest_ordinal(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_statefulset("data", "db", replicas=3)
    await apps.patch_namespaced_stateful_set("db", "data", RESTART)

    order: list[str] = []
    for _ in range(300):
        clock.advance(1)
        pods = kube.list("Pod", "data")
        down = [
            p for p in pods if p["metadata"].get("deletionTimestamp") or p["status"]["phase"] != "Running"
        ]
        assert len(down) + (3 - len(pods)) <= 1, "OrderedReady rolls one pod at a time"
        for p in down:
            if p["metadata"]["name"] not in order:
                order.append(p["metadata"]["name"])
    assert order == ["db-2", "db-1", "db-0"]
    sts = await apps.read_namespaced_stateful_set("db", "data")
    assert sts.status.current_revision == sts.status.update_revision
    assert (sts.status.updated_replicas, sts.status.ready_replicas) == (3, 3)


@pytest.mark.parametrize("mode", ["instant"])
async def test_instant_mode_settles_before_answering(mode: str, clock: FakeClock, tmp_path: Any) -> None:
    from tests.testing.conftest import client_for

    # Instant mode exists for tests that do not exercise time (request semantics, bench
    # throughput): each write's response already shows the settled cluster.
    async with FakeKubeServer(clock=clock, rollout=mode) as kube:  # type: ignore[arg-type]
        kube.add_deployment("shop", "web", replicas=2)
        async with await client_for(kube, tmp_path / "kc") as api:
            dep = await client.AppsV1Api(api).patch_namespaced_deployment("web", "shop", RESTART)
    assert dep.status.observed_generation == 2
    assert conds(dep)["Progressing"][1] == "NewReplicaSetAvailable"


async def test_recreate_strategy_stops_every_old_pod_before_starting_new_ones(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    strategy = {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
    await apps.patch_namespaced_deployment(
        "web", "shop", strategy, _content_type="application/merge-patch+json"
    )
    await apps.patch_namespaced_deployment("web", "shop", RESTART)

    clock.advance(1)  # Real: old ReplicaSet scaled to 0; no new pod while an old one still exists
    assert rs_sizes(kube) == {"1": 0, "2": 0}
    assert all(p["metadata"].get("deletionTimestamp") for p in kube.list("Pod", "shop"))
    clock.advance(30)  # the old pods' grace period is over: the new ReplicaSet scales up
    assert rs_sizes(kube) == {"1": 0, "2": 2}
    clock.advance(5)
    dep = await apps.read_namespaced_deployment("web", "shop")
    assert conds(dep)["Progressing"][1] == "NewReplicaSetAvailable"
