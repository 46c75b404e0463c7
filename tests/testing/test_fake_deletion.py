"""Contract: deletion is graceful and garbage collection comes later, as on a real cluster.

Each assertion is written next to what kube-apiserver 1.28+ and the garbage collector
answer (apiserver `rest.BeforeDelete`, `podStrategy.CheckGracefulDelete`,
`registry.Store.Delete`, the garbage collector's `attemptToDeleteItem`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer
from tests.testing.conftest import START, names, status_of, terminating


async def test_deleted_pod_stays_listed_through_its_grace_period(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    victim = kube.list("Pod", "shop")[0]["metadata"]["name"]

    deleted = await core.delete_namespaced_pod(victim, "shop")

    # Real: 200 with the Pod itself (pods return the deleted object), deletionTimestamp =
    # now + grace (terminationGracePeriodSeconds, default 30), deletionGracePeriodSeconds = 30.
    assert deleted.metadata.name == victim
    assert deleted.metadata.deletion_timestamp == START + timedelta(seconds=30)
    assert deleted.metadata.deletion_grace_period_seconds == 30
    # Still listed, terminating; the ReplicaSet controller has not reacted yet.
    assert terminating(kube.list("Pod", "shop")) == [victim]
    assert len(kube.list("Pod", "shop")) == 2

    clock.advance(1)  # the ReplicaSet controller replaces it at once: 3 pods listed, one terminating
    pods = kube.list("Pod", "shop")
    assert len(pods) == 3 and terminating(pods) == [victim]
    listed = await core.list_namespaced_pod("shop")
    assert len(listed.items) == 3  # what a client counting pods sees during a graceful deletion

    clock.advance(28)  # 29s: the kubelet is still waiting for the containers to stop
    assert victim in names(kube.list("Pod", "shop"))
    clock.advance(1)  # 30s: the kubelet confirms, the pod is gone
    assert victim not in names(kube.list("Pod", "shop"))
    assert len(kube.list("Pod", "shop")) == 2
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_pod(victim, "shop")
    assert (err.value.status, status_of(err.value)["message"]) == (404, f'pods "{victim}" not found')


async def test_a_second_delete_can_only_shorten_the_grace_period(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=1)
    pod = kube.list("Pod", "shop")[0]["metadata"]["name"]
    await core.delete_namespaced_pod(pod, "shop", grace_period_seconds=60)

    # Real: a longer or equal grace period leaves the pending deletion as it is (200, object unchanged).
    again = await core.delete_namespaced_pod(pod, "shop", grace_period_seconds=90)
    assert again.metadata.deletion_timestamp == START + timedelta(seconds=60)
    # A shorter one moves deletionTimestamp earlier by the difference.
    clock.advance(10)
    shorter = await core.delete_namespaced_pod(pod, "shop", grace_period_seconds=5)
    assert shorter.metadata.deletion_timestamp == START + timedelta(seconds=5)
    assert shorter.metadata.deletion_grace_period_seconds == 5
    clock.advance(0)  # the new deadline has already passed: the kubelet confirms at once
    assert pod not in names(kube.list("Pod", "shop"))


async def test_grace_zero_finished_and_unscheduled_pods_go_at_once(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_pod("shop", "now", labels={"app": "x"})
    kube.add_pod("shop", "done", labels={"app": "x"}, phase="Succeeded")
    unscheduled = client.V1Pod(
        metadata=client.V1ObjectMeta(name="nowhere"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1")]),
    )
    await core.create_namespaced_pod("shop", unscheduled)
    kube.set_pod_outcome("pending", pod="nowhere")

    await core.delete_namespaced_pod("now", "shop", grace_period_seconds=0)
    # Real: `CheckGracefulDelete` forces grace 0 for a finished pod (nothing runs)...
    await core.delete_namespaced_pod("done", "shop")

    assert names(kube.list("Pod", "shop")) == ["nowhere"]
    # ...a created pod that never started still waits for its grace deadline in the API, but the
    # kubelet has no container to stop: it confirms right away.
    await core.delete_namespaced_pod("nowhere", "shop")
    assert kube.list("Pod", "shop") == []


async def test_dependents_outlive_their_owner_briefly(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)

    status = await apps.delete_namespaced_deployment("web", "shop")

    # Real: 200 Status Success (default propagation Background); the owner is gone at once...
    assert (status.status, status.details.name, status.details.kind) == ("Success", "web", "deployments")
    assert kube.list("Deployment", "shop") == []
    # ...its ReplicaSet and pods are still there until the garbage collector gets to them.
    assert len(kube.list("ReplicaSet", "shop")) == 1
    assert len(kube.list("Pod", "shop")) == 2
    clock.advance(1)  # the collector deletes the ReplicaSet
    assert kube.list("ReplicaSet", "shop") == []
    assert terminating(kube.list("Pod", "shop")) == []
    clock.advance(1)  # ...then its pods, which terminate gracefully
    assert len(terminating(kube.list("Pod", "shop"))) == 2
    clock.advance(30)
    assert kube.list("Pod", "shop") == []


async def test_foreground_deletion_keeps_the_owner_until_its_dependents_are_gone(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=1)
    generation = kube.get("Deployment", "shop", "web")["metadata"]["generation"]  # type: ignore[index]

    deleted = await apps.delete_namespaced_deployment("web", "shop", propagation_policy="Foreground")

    # Real: 200 with the Deployment itself, marked: deletionTimestamp, finalizer foregroundDeletion,
    # generation bumped; it stays readable until the collector has removed what it owns.
    assert deleted.kind == "Deployment"  # the client types it as V1Status, but it is the object
    dep = kube.get("Deployment", "shop", "web")
    assert dep is not None
    assert dep["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert dep["metadata"]["deletionTimestamp"] == "2026-03-01T12:00:00Z"
    assert dep["metadata"]["generation"] == generation + 1
    clock.advance(2)
    assert kube.get("Deployment", "shop", "web") is not None  # its pod is still terminating
    clock.advance(40)
    assert kube.get("Deployment", "shop", "web") is None
    assert kube.list("ReplicaSet", "shop") == [] and kube.list("Pod", "shop") == []


async def test_orphan_deletion_frees_the_dependents(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=1)

    await apps.delete_namespaced_deployment("web", "shop", propagation_policy="Orphan")

    # Real: the owner lingers with the `orphan` finalizer until the collector has removed the
    # ownerReferences pointing at it; the ReplicaSet and pods stay, ownerless.
    assert kube.get("Deployment", "shop", "web")["metadata"]["finalizers"] == ["orphan"]  # type: ignore[index]
    clock.advance(2)
    assert kube.get("Deployment", "shop", "web") is None
    [rs] = kube.list("ReplicaSet", "shop")
    assert "ownerReferences" not in rs["metadata"]
    assert len(kube.list("Pod", "shop")) == 1


async def test_deleting_a_namespace_terminates_it_and_refuses_new_content(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=1)

    raw = await core.delete_namespace("shop", _preload_content=False)

    # Real: 200 with the Namespace itself (the client's V1Status typing does not fit it, hence the
    # raw read), phase Terminating; it goes once everything in it is gone.
    ns = await raw.json()  # type: ignore[attr-defined]
    assert (raw.status, ns["kind"], ns["status"]["phase"]) == (200, "Namespace", "Terminating")  # type: ignore[attr-defined]
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="late"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1")]),
    )
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod("shop", pod)
    body = status_of(err.value)
    # Real: 403 Forbidden, cause NamespaceTerminating on metadata.namespace.
    assert (err.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'pods "late" is forbidden: '
        "unable to create new content in namespace shop because it is being terminated"
    )
    assert body["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    clock.advance(60)
    assert kube.get("Namespace", "", "shop") is None
    assert kube.list("Pod", "shop") == []
