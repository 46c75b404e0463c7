"""Contract: PodDisruptionBudgets (policy/v1) and the eviction subresource, as kube-apiserver answers.

Sources: `pkg/registry/core/pod/storage/eviction.go` (EvictionREST.Create, checkAndDecrement,
createTooManyRequestsError), `pkg/controller/disruption/disruption.go` (status),
`k8s.io/component-helpers/apps/poddisruptionbudget` (the DisruptionAllowed condition).
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer
from tests.testing.conftest import names, status_of, terminating


def eviction(name: str, ns: str = "shop") -> client.V1Eviction:
    return client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))


@pytest.mark.parametrize(
    ("budget", "expected", "desired", "allowed"),
    [
        ({"min_available": 2}, 3, 2, 1),  # an integer minAvailable counts the pods themselves
        ({"min_available": "50%"}, 3, 2, 1),  # percentages resolve against the controller's scale, rounded up
        ({"max_unavailable": 1}, 3, 2, 1),
        ({"max_unavailable": "34%"}, 3, 1, 2),
        ({"min_available": 3}, 3, 3, 0),
    ],
)
async def test_pdb_status_counts_healthy_pods(
    kube: FakeKubeServer,
    policy: client.PolicyV1Api,
    budget: dict[str, object],
    expected: int,
    desired: int,
    allowed: int,
) -> None:
    kube.add_deployment("shop", "web", replicas=3)
    kube.add_pdb("shop", "web", selector={"app": "web"}, **budget)  # type: ignore[arg-type]

    pdb = await policy.read_namespaced_pod_disruption_budget("web", "shop")

    assert (pdb.status.expected_pods, pdb.status.current_healthy) == (expected, 3)
    assert (pdb.status.desired_healthy, pdb.status.disruptions_allowed) == (desired, allowed)
    assert pdb.status.observed_generation == pdb.metadata.generation == 1
    [cond] = pdb.status.conditions
    # Real: type DisruptionAllowed, True/SufficientPods or False/InsufficientPods, message "".
    assert (cond.type, cond.status, cond.reason, cond.message) == (
        "DisruptionAllowed",
        "True" if allowed else "False",
        "SufficientPods" if allowed else "InsufficientPods",
        "",
    )


async def test_eviction_that_would_violate_the_budget_is_429_with_a_disruption_budget_cause(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    kube.add_pdb("shop", "web-pdb", selector={"app": "web"}, min_available=2)
    victim = kube.list("Pod", "shop")[0]["metadata"]["name"]

    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod_eviction(victim, "shop", eviction(victim))

    # Real (NewTooManyRequests with retryAfterSeconds 0): 429, reason TooManyRequests, one cause
    # of type DisruptionBudget naming the budget and its counts, and no Retry-After header.
    assert err.value.status == 429
    assert status_of(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.",
        "reason": "TooManyRequests",
        "details": {
            "causes": [
                {
                    "reason": "DisruptionBudget",
                    "message": "The disruption budget web-pdb needs 2 healthy pods and has 2 currently",
                }
            ]
        },
        "code": 429,
    }
    assert "Retry-After" not in (err.value.headers or {})
    assert terminating(kube.list("Pod", "shop")) == []


async def test_allowed_eviction_spends_the_budget_and_deletes_gracefully(
    kube: FakeKubeServer, core: client.CoreV1Api, policy: client.PolicyV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=3)
    kube.add_pdb("shop", "web", selector={"app": "web"}, min_available=2)
    first, second, _ = names(kube.list("Pod", "shop"))

    answer = await core.create_namespaced_pod_eviction(first, "shop", eviction(first), _preload_content=False)

    # Real: 201 with a Success Status.
    assert answer.status == 201  # type: ignore[attr-defined]
    assert await answer.json() == {  # type: ignore[attr-defined]
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    }
    evicted = kube.get("Pod", "shop", first)
    assert evicted is not None and evicted["metadata"]["deletionGracePeriodSeconds"] == 30
    target = next(c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (target["reason"], target["message"]) == ("EvictionByEvictionAPI", "Eviction API: evicting")
    pdb = await policy.read_namespaced_pod_disruption_budget("web", "shop")
    # The eviction decremented the budget and recorded the pod for the controller.
    assert pdb.status.disruptions_allowed == 0
    assert list(pdb.status.disrupted_pods) == [first]
    assert pdb.status.conditions[0].reason == "InsufficientPods"
    # A second eviction right after is refused: the budget is spent until a replacement is ready.
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod_eviction(second, "shop", eviction(second))
    assert err.value.status == 429

    clock.advance(5)  # the replacement started and is ready
    pdb = await policy.read_namespaced_pod_disruption_budget("web", "shop")
    assert (pdb.status.current_healthy, pdb.status.disruptions_allowed) == (3, 1)
    assert pdb.status.disrupted_pods is None
    await core.create_namespaced_pod_eviction(second, "shop", eviction(second))


async def test_a_budget_not_yet_observed_is_429_with_retry_after(
    kube: FakeKubeServer, core: client.CoreV1Api, policy: client.PolicyV1Api
) -> None:
    kube.add_deployment("shop", "web", replicas=3)
    kube.add_pdb("shop", "web", selector={"app": "web"}, min_available=1)
    await policy.patch_namespaced_pod_disruption_budget("web", "shop", {"spec": {"minAvailable": 2}})
    victim = kube.list("Pod", "shop")[0]["metadata"]["name"]

    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod_eviction(victim, "shop", eviction(victim))

    # Real: observedGeneration < generation -> createTooManyRequestsError: 429, retryAfterSeconds 10
    # in details and a Retry-After: 10 header, cause "still being processed".
    body = status_of(err.value)
    assert (err.value.status, body["reason"]) == (429, "TooManyRequests")
    assert body["details"] == {
        "causes": [
            {
                "reason": "DisruptionBudget",
                "message": "The disruption budget web is still being processed by the server.",
            }
        ],
        "retryAfterSeconds": 10,
    }
    assert (err.value.headers or {}).get("Retry-After") == "10"


async def test_two_budgets_for_one_pod_are_a_500(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.add_deployment("shop", "web", replicas=3)
    kube.add_pdb("shop", "a", selector={"app": "web"}, min_available=1)
    kube.add_pdb("shop", "b", selector={"app": "web"}, max_unavailable=1)
    victim = kube.list("Pod", "shop")[0]["metadata"]["name"]

    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod_eviction(victim, "shop", eviction(victim))

    # Real: a Status returned as the result (not an error), code 500, no reason, nothing deleted.
    assert status_of(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "This pod has more than one PodDisruptionBudget, "
        "which the eviction subresource does not support.",
        "code": 500,
    }
    assert terminating(kube.list("Pod", "shop")) == []


async def test_pods_that_cannot_disrupt_anything_are_evicted_without_a_check(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    kube.add_pdb("shop", "web", selector={"app": "web"}, min_available=2)
    kube.add_pod("shop", "starting", labels={"app": "web"}, phase="Pending")
    kube.add_pod("shop", "finished", labels={"app": "web"}, phase="Succeeded")

    # Real (`canIgnorePDB`): Pending, Succeeded and Failed pods, and pods already being deleted.
    await core.create_namespaced_pod_eviction("starting", "shop", eviction("starting"))
    await core.create_namespaced_pod_eviction("finished", "shop", eviction("finished"))

    assert {"starting", "finished"}.isdisjoint(names(kube.list("Pod", "shop")))


async def test_eviction_errors_name_the_pod_and_the_mismatch(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_deployment("shop", "web", replicas=1)
    real = kube.list("Pod", "shop")[0]["metadata"]["name"]

    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod_eviction("ghost", "shop", eviction("ghost"))
    # Real: 404 NotFound naming the pod.
    assert (err.value.status, status_of(err.value)["message"]) == (404, 'pods "ghost" not found')
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod_eviction(real, "shop", eviction("other"))
    # Real: 400 "name in URL does not match name in Eviction object".
    assert (err.value.status, status_of(err.value)["message"]) == (
        400,
        "name in URL does not match name in Eviction object",
    )


async def test_budget_created_through_the_api_is_computed_by_the_controller_later(
    kube: FakeKubeServer, policy: client.PolicyV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    body = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1PodDisruptionBudgetSpec(
            min_available=1, selector=client.V1LabelSelector(match_labels={"app": "web"})
        ),
    )

    created = await policy.create_namespaced_pod_disruption_budget("shop", body)

    # Real: status is reset on create; the four counts are not omitempty, so they read 0.
    assert (created.status.disruptions_allowed, created.status.expected_pods) == (0, 0)
    assert created.status.observed_generation is None
    clock.advance(1)
    pdb = await policy.read_namespaced_pod_disruption_budget("web", "shop")
    assert (pdb.status.expected_pods, pdb.status.disruptions_allowed, pdb.status.observed_generation) == (
        2,
        1,
        1,
    )

    with pytest.raises(ApiException) as err:
        await policy.patch_namespaced_pod_disruption_budget("web", "shop", {"spec": {"maxUnavailable": 1}})
    # Real: 422 Invalid, "minAvailable and maxUnavailable cannot be both set".
    assert err.value.status == 422
    assert "minAvailable and maxUnavailable cannot be both set" in status_of(err.value)["message"]
