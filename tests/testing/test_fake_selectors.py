"""Contract: field selectors each resource supports (400 for the rest), and PUT that creates.

Sources: `pkg/apis/core/v1/conversion.go` and friends (AddFieldLabelConversionFunc: "field
label not supported: X"), `runtime.DefaultMetaV1FieldSelectorConversion` (`"X" is not a known
field selector: only "metadata.name", "metadata.namespace"`), the Lease and Event strategies'
`AllowCreateOnUpdate() == true` (a PUT of a missing object creates it: 201).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.testing import FakeKubeServer
from tests.testing.conftest import START, status_of


async def test_unsupported_field_selectors_are_400_worded_per_kind(
    kube: FakeKubeServer, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    kube.add_deployment("shop", "web")

    with pytest.raises(ApiException) as err:
        await apps.list_namespaced_deployment("shop", field_selector="status.phase=Running")
    # Real: Deployments have no conversion function, so only metadata.name/namespace.
    assert (err.value.status, status_of(err.value)["reason"]) == (400, "BadRequest")
    assert status_of(err.value)["message"] == (
        '"status.phase" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )
    with pytest.raises(ApiException) as err:
        await core.list_namespaced_pod("shop", field_selector="spec.foo=bar")
    # Real: pods have one, with its own wording.
    assert (err.value.status, status_of(err.value)["message"]) == (400, "field label not supported: spec.foo")


async def test_supported_field_selectors_filter(
    kube: FakeKubeServer, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    kube.add_deployment("shop", "web", replicas=2, revisions=["web:v0"], image="web:v1")
    kube.add_pod("shop", "starting", phase="Pending")
    node = kube.list("Pod", "shop")[0]["spec"]["nodeName"]

    async def pods(selector: str) -> set[str]:
        return {
            p.metadata.name for p in (await core.list_namespaced_pod("shop", field_selector=selector)).items
        }

    assert await pods("status.phase=Pending") == {"starting"}
    assert len(await pods("status.phase!=Pending")) == 2
    assert await pods("metadata.name=starting") == {"starting"}
    assert await pods(f"spec.nodeName={node}") == await pods(f"spec.host={node}")  # the old alias
    # ReplicaSets select on status.replicas; an omitted zero still selects as "0".
    idle = await apps.list_namespaced_replica_set("shop", field_selector="status.replicas=0")
    assert [rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in idle.items] == ["1"]


async def test_put_of_a_missing_lease_creates_it(api: client.ApiClient, apps: client.AppsV1Api) -> None:
    leases = client.CoordinationV1Api(api)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="remediator"),
        spec=client.V1LeaseSpec(
            holder_identity="a", lease_duration_seconds=15, renew_time=START + timedelta(microseconds=5)
        ),
    )

    _, code, _ = await leases.replace_namespaced_lease_with_http_info("remediator", "default", lease)

    # Real: 201 Created (AllowCreateOnUpdate); the PUT's resourceVersion must then match.
    assert code == 201
    stored = await leases.read_namespaced_lease("remediator", "default")
    assert stored.spec.holder_identity == "a"
    stored.spec.holder_identity = "b"
    _, code, _ = await leases.replace_namespaced_lease_with_http_info("remediator", "default", stored)
    assert code == 200
    with pytest.raises(ApiException) as err:  # a Deployment is not created by PUT: 404
        await apps.replace_namespaced_deployment(
            "ghost", "default", client.V1Deployment(metadata=client.V1ObjectMeta(name="ghost"))
        )
    assert (err.value.status, status_of(err.value)["message"]) == (404, 'deployments.apps "ghost" not found')
