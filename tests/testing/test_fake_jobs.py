"""Contract: batch/v1 Jobs, their defaults, their pods and their status, as a current cluster shows them.

Sources: `pkg/apis/batch/v1/defaults.go` (SetDefaults_Job), `pkg/registry/batch/job/strategy.go`
(generateSelector, DefaultGarbageCollectionPolicy), `pkg/controller/job/job_controller.go`
(syncJob, newSuccessCondition/newFailureCondition, enactJobFinished). Kubernetes 1.28 set
Complete/Failed directly (Complete without a reason); since 1.31 the interim conditions
SuccessCriteriaMet / FailureTarget come first. Clients should read the Complete/Failed types.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer
from tests.testing.conftest import START, status_of

UID_LABEL = "batch.kubernetes.io/controller-uid"
NAME_LABEL = "batch.kubernetes.io/job-name"


def job(name: str = "migrate", *, restart: str = "Never", **spec: Any) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(
                    restart_policy=restart, containers=[client.V1Container(name="main", image="tools:1")]
                ),
            ),
            **spec,
        ),
    )


def conditions(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["type"], c["status"], c.get("reason", "")) for c in obj["status"].get("conditions") or []]


async def test_job_defaults_and_generated_selector(kube: FakeKubeServer, batch: client.BatchV1Api) -> None:
    kube.add_namespace("ops")

    created = await batch.create_namespaced_job("ops", job())

    spec, uid = created.spec, created.metadata.uid
    # Real (SetDefaults_Job): completions and parallelism 1 when both unset, backoffLimit 6,
    # completionMode NonIndexed, suspend false, manualSelector false, podReplacementPolicy
    # TerminatingOrFailed (no podFailurePolicy).
    assert (spec.completions, spec.parallelism, spec.backoff_limit) == (1, 1, 6)
    assert (spec.completion_mode, spec.suspend, spec.manual_selector) == ("NonIndexed", False, False)
    assert spec.pod_replacement_policy == "TerminatingOrFailed"
    # Real (generateSelector): the selector is the controller uid; the template gets the legacy
    # and the prefixed job-name and controller-uid labels; the Job shares the template's labels.
    assert spec.selector.match_labels == {UID_LABEL: uid}
    expected = {
        "app": "migrate",
        "job-name": "migrate",
        NAME_LABEL: "migrate",
        "controller-uid": uid,
        UID_LABEL: uid,
    }
    assert spec.template.metadata.labels == expected
    assert created.metadata.labels == expected
    assert created.metadata.generation == 1
    # Status is reset on create and stays empty until the Job controller's first sync.
    assert created.status.start_time is None and created.status.active is None


async def test_job_runs_its_pod_to_completion(
    kube: FakeKubeServer, batch: client.BatchV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("ops")
    created = await batch.create_namespaced_job("ops", job())

    clock.advance(1)  # the controller synced: one pod, Pending
    [pod] = kube.list("Pod", "ops")
    assert (
        pod["metadata"]["name"].startswith("migrate-") and len(pod["metadata"]["name"]) == len("migrate-") + 5
    )
    assert pod["metadata"]["ownerReferences"][0] | {"uid": ""} == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": "migrate",
        "uid": "",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert pod["metadata"]["labels"][UID_LABEL] == created.metadata.uid
    running = await batch.read_namespaced_job("migrate", "ops")
    # Real: active 1, ready 0 (a pointer: sent even when 0), terminating 0, startTime set.
    assert (running.status.active, running.status.ready, running.status.terminating) == (1, 0, 0)
    assert running.status.start_time == START  # the first sync, 0.5s in, in whole seconds

    clock.advance(3)  # the pod started
    assert (await batch.read_namespaced_job("migrate", "ops")).status.ready == 1
    clock.advance(5)  # ...and exited 0 after its default run time
    done = kube.get("Job", "ops", "migrate")
    assert done is not None
    assert conditions(done) == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]
    complete = done["status"]["conditions"][1]
    assert complete["message"] == "Reached expected number of succeeded pods"
    assert done["status"]["succeeded"] == 1 and "active" not in done["status"]  # omitempty
    assert done["status"]["completionTime"] == complete["lastTransitionTime"]
    [finished] = kube.list("Pod", "ops")
    assert finished["status"]["phase"] == "Succeeded"
    assert "finalizers" not in finished["metadata"]  # counted: the tracking finalizer is removed


async def test_failing_job_backs_off_then_fails(
    kube: FakeKubeServer, batch: client.BatchV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("ops")
    kube.set_pod_outcome("fail", job="migrate", exit_code=2, after_s=1, log="boom")
    await batch.create_namespaced_job("ops", job(backoff_limit=1))

    clock.advance(5)  # first pod failed
    job_now = kube.get("Job", "ops", "migrate")
    assert job_now is not None and job_now["status"]["failed"] == 1
    assert len(kube.list("Pod", "ops")) == 1, "the replacement waits for the 10s back-off"
    [first] = kube.list("Pod", "ops")
    terminated = first["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (first["status"]["phase"], terminated["exitCode"], terminated["reason"]) == ("Failed", 2, "Error")

    clock.advance(20)  # the replacement ran and failed too: failed 2 > backoffLimit 1
    failed = kube.get("Job", "ops", "migrate")
    assert failed is not None
    assert failed["status"]["failed"] == 2
    assert conditions(failed) == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    assert failed["status"]["conditions"][1]["message"] == "Job has reached the specified backoff limit"
    assert "completionTime" not in failed["status"]  # only a Complete Job has one


async def test_tests_finish_job_pods_by_hand(
    kube: FakeKubeServer, batch: client.BatchV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("ops")
    kube.set_pod_outcome("ready", job="migrate")  # runs until told otherwise
    await batch.create_namespaced_job("ops", job(backoff_limit=0))
    clock.advance(600)
    [pod] = kube.list("Pod", "ops")
    assert pod["status"]["phase"] == "Running"

    kube.finish_pod("ops", pod["metadata"]["name"], succeeded=False, exit_code=3)
    clock.advance(1)

    failed = kube.get("Job", "ops", "migrate")
    assert failed is not None and ("Failed", "True", "BackoffLimitExceeded") in conditions(failed)


async def test_parallel_job_runs_up_to_parallelism(
    kube: FakeKubeServer, batch: client.BatchV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("ops")
    await batch.create_namespaced_job("ops", job(completions=3, parallelism=2))

    clock.advance(1)
    assert len(kube.list("Pod", "ops")) == 2
    clock.advance(10)  # two succeeded, the third started
    status = (await batch.read_namespaced_job("migrate", "ops")).status
    assert (status.succeeded, status.active) == (2, 1)
    clock.advance(10)
    status = (await batch.read_namespaced_job("migrate", "ops")).status
    assert status.succeeded == 3 and status.completion_time is not None


async def test_job_validation_and_immutability(kube: FakeKubeServer, batch: client.BatchV1Api) -> None:
    kube.add_namespace("ops")

    with pytest.raises(ApiException) as err:
        await batch.create_namespaced_job("ops", job(restart="Always"))
    # Real: 422, the defaulted restartPolicy Always is not supported for a Job's pods.
    body = status_of(err.value)
    assert (err.value.status, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "Always": supported values: "OnFailure", "Never"',
            "field": "spec.template.spec.restartPolicy",
        }
    ]

    await batch.create_namespaced_job("ops", job())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "tools:2"}]}}}}
    with pytest.raises(ApiException) as err:
        await batch.patch_namespaced_job("migrate", "ops", patch)
    # Real: 422, spec.template is immutable.
    assert err.value.status == 422
    assert "spec.template: Invalid value" in status_of(err.value)["message"]
    assert "field is immutable" in status_of(err.value)["message"]


async def test_deleting_a_job_through_batch_v1_orphans_its_pods_by_default(
    kube: FakeKubeServer, batch: client.BatchV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("ops")
    kube.set_pod_outcome("ready", job="a")
    kube.set_pod_outcome("ready", job="b")
    await batch.create_namespaced_job("ops", job("a"))
    await batch.create_namespaced_job("ops", job("b"))
    clock.advance(5)

    # Real: batch/v1's DefaultGarbageCollectionPolicy is OrphanDependents (kubectl sends Background).
    await batch.delete_namespaced_job("a", "ops")
    await batch.delete_namespaced_job("b", "ops", propagation_policy="Background")
    clock.advance(40)

    assert kube.list("Job", "ops") == []
    [orphan] = kube.list("Pod", "ops")
    assert orphan["metadata"]["name"].startswith("a-")
    assert "ownerReferences" not in orphan["metadata"]
    assert "finalizers" not in orphan["metadata"], "the job controller releases orphans it tracked"


async def test_a_finished_job_with_a_ttl_is_deleted_with_its_pods(
    kube: FakeKubeServer, batch: client.BatchV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("ops")
    await batch.create_namespaced_job("ops", job(ttl_seconds_after_finished=60))
    clock.advance(10)  # ran and completed
    assert kube.get("Job", "ops", "migrate") is not None

    clock.advance(60)  # Real: the TTL controller deletes it, foreground: pods first, then the Job
    clock.advance(5)
    assert kube.get("Job", "ops", "migrate") is None
    assert kube.list("Pod", "ops") == []


async def test_active_deadline_fails_a_job_that_runs_too_long(
    kube: FakeKubeServer, batch: client.BatchV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("ops")
    kube.set_pod_outcome("ready", job="migrate")  # never exits
    await batch.create_namespaced_job("ops", job(active_deadline_seconds=30))

    clock.advance(40)  # Real: FailureTarget then Failed, reason DeadlineExceeded; the pod is deleted
    clock.advance(30)
    failed = kube.get("Job", "ops", "migrate")
    assert failed is not None
    assert ("Failed", "True", "DeadlineExceeded") in conditions(failed)
    assert failed["status"]["conditions"][-1]["message"] == "Job was active longer than specified deadline"
