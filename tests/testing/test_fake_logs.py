"""Contract: `GET .../pods/{name}/log` answers as kube-apiserver and the kubelet do.

Sources: `pkg/registry/core/pod/strategy.go` (LogLocation: container choice and its 400s),
`pkg/kubelet/kubelet_pods.go` (validateContainerLogStatus: waiting, previous, crash loops),
`pkg/apis/core/validation` (PodLogOptions). The body is text/plain; kubernetes-asyncio
returns it as a str.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer
from tests.testing.conftest import status_of


async def test_single_container_log_with_tail_since_and_timestamps(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_pod("shop", "web")
    kube.write_log("shop", "web", "starting\nlistening on :8080")
    clock.advance(120)
    kube.write_log("shop", "web", "GET /healthz 200\nGET /cart 500")

    # Real: a pod with one container needs no `container`.
    assert await core.read_namespaced_pod_log("web", "shop") == (
        "starting\nlistening on :8080\nGET /healthz 200\nGET /cart 500\n"
    )
    assert await core.read_namespaced_pod_log("web", "shop", tail_lines=1) == "GET /cart 500\n"
    assert (
        await core.read_namespaced_pod_log("web", "shop", since_seconds=60)
        == "GET /healthz 200\nGET /cart 500\n"
    )
    # Real: timestamps=true prefixes each line with RFC 3339, nine fractional digits, and a space.
    stamped = await core.read_namespaced_pod_log("web", "shop", tail_lines=1, timestamps=True)
    assert stamped == "2026-03-01T12:02:00.000000000Z GET /cart 500\n"
    assert await core.read_namespaced_pod_log("web", "shop", limit_bytes=8) == "starting"


async def test_multi_container_pod_needs_a_container_name(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_pod("shop", "web", containers=("app", "proxy"))
    kube.write_log("shop", "web", "app line", container="app")
    kube.write_log("shop", "web", "proxy line", container="proxy")

    with pytest.raises(ApiException) as err:
        await core.read_namespaced_pod_log("web", "shop")
    # Real: 400 BadRequest naming the containers to choose from.
    assert (err.value.status, status_of(err.value)["reason"]) == (400, "BadRequest")
    assert (
        status_of(err.value)["message"]
        == "a container name must be specified for pod web, choose one of: [app proxy]"
    )
    assert await core.read_namespaced_pod_log("web", "shop", container="proxy") == "proxy line\n"
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_pod_log("web", "shop", container="sidecar")
    assert (err.value.status, status_of(err.value)["message"]) == (
        400,
        "container sidecar is not valid for pod web",
    )


async def test_missing_pod_is_404_naming_it(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_pod_log("ghost", "default")
    # Real: 404 NotFound, `pods "ghost" not found`, details name and kind.
    body = status_of(err.value)
    assert (err.value.status, body["reason"], body["message"]) == (404, "NotFound", 'pods "ghost" not found')
    assert body["details"] == {"name": "ghost", "kind": "pods"}


async def test_a_container_not_started_yet_has_no_log(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=1)
    kube.set_pod_outcome("pending", namespace="shop")
    await core.delete_namespaced_pod(kube.list("Pod", "shop")[0]["metadata"]["name"], "shop")
    clock.advance(1)
    [new] = [p for p in kube.list("Pod", "shop") if not p["metadata"].get("deletionTimestamp")]

    with pytest.raises(ApiException) as err:
        await core.read_namespaced_pod_log(new["metadata"]["name"], "shop")
    # Real (kubelet): 400, `container "app" in pod "<pod>" is waiting to start: ContainerCreating`.
    assert err.value.status == 400
    assert status_of(err.value)["message"] == (
        f'container "app" in pod "{new["metadata"]["name"]}" is waiting to start: ContainerCreating'
    )


async def test_crash_looping_container_serves_its_last_run(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=1)
    [name] = kube.set_pod_outcome("crash", namespace="shop", exit_code=137, log="OOMKilled: out of memory")
    clock.advance(1)

    pod = await core.read_namespaced_pod(name, "shop")
    [status] = pod.status.container_statuses
    # Real: phase Running, container waiting in CrashLoopBackOff, lastState terminated, restarts counted.
    assert pod.status.phase == "Running"
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.exit_code == 137
    assert status.restart_count == 1
    clock.advance(40)  # back-off 10s, 20s: two more crashes
    assert (await core.read_namespaced_pod(name, "shop")).status.container_statuses[0].restart_count == 3
    # Real: the current container is waiting, so its log is the last crashed instance's; the same
    # log is also what previous=true returns.
    assert await core.read_namespaced_pod_log(name, "shop") == "OOMKilled: out of memory\n"
    assert await core.read_namespaced_pod_log(name, "shop", previous=True) == "OOMKilled: out of memory\n"


async def test_previous_log_of_a_container_that_never_restarted_is_400(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_pod("shop", "web")
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_pod_log("web", "shop", previous=True)
    assert (err.value.status, status_of(err.value)["message"]) == (
        400,
        'previous terminated container "app" in pod "web" not found',
    )


async def test_a_crash_looping_container_gets_back_off_events_as_the_kubelet_records_them(
    kube: FakeKubeServer, core: client.CoreV1Api, api: client.ApiClient, clock: FakeClock
) -> None:
    """Real (`pkg/kubelet/kuberuntime`, the event recorder's aggregation): a Warning `BackOff` Event
    on the container ("Back-off restarting failed container <c> in pod <name>_<ns>(<uid>)"), source
    the kubelet on the pod's node; each repeat bumps the same Event's count and lastTimestamp."""
    kube.add_deployment("shop", "web", replicas=1)
    [name] = kube.set_pod_outcome("crash", namespace="shop")
    clock.advance(1)
    pod = await core.read_namespaced_pod(name, "shop")
    listed = await core.list_namespaced_event("shop", field_selector=f"involvedObject.name={name}")
    [event] = listed.items
    assert (event.type, event.reason, event.count) == ("Warning", "BackOff", 1)
    assert event.message == f"Back-off restarting failed container app in pod {name}_shop({pod.metadata.uid})"
    ref = event.involved_object
    assert (ref.kind, ref.name, ref.namespace, ref.uid, ref.api_version, ref.field_path) == (
        "Pod",
        name,
        "shop",
        pod.metadata.uid,
        "v1",
        "spec.containers{app}",
    )
    assert (event.source.component, event.source.host) == ("kubelet", pod.spec.node_name)
    assert event.reporting_component == "kubelet" and event.reporting_instance == pod.spec.node_name
    assert event.metadata.name.startswith(f"{name}.")
    first = event.first_timestamp
    clock.advance(40)  # back-off 10s, 20s: two more crashes, the same Event counted up
    [again] = (await core.list_namespaced_event("shop", field_selector=f"involvedObject.name={name}")).items
    assert (again.metadata.name, again.count, again.first_timestamp) == (event.metadata.name, 3, first)
    assert again.last_timestamp > first
    # The same stored object through events.k8s.io/v1.
    listed_v1 = await client.EventsV1Api(api).list_namespaced_event(
        "shop", field_selector=f"regarding.name={name}", _preload_content=False
    )
    [v1] = (await listed_v1.json())["items"]  # type: ignore[attr-defined]  # raw: eventTime is null
    assert (v1["reason"], v1["deprecatedCount"], v1["type"], v1["eventTime"]) == (
        "BackOff",
        3,
        "Warning",
        None,
    )
    assert v1["note"].startswith("Back-off restarting failed container app in pod ")
