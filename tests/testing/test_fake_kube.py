"""Contract test of FakeKubeServer, spoken to only through the real kubernetes_asyncio client.

Each test pins one behaviour of kube-apiserver that remediation code depends on, so
a green run here means product tests against the fake are tests against the wire.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
MERGE_PATCH: dict[str, Any] = {"_content_type": "application/merge-patch+json"}
"""Passed as **kwargs: the client accepts `_content_type` but its bundled .pyi stubs omit it."""
APPLY_PATCH: dict[str, Any] = {"_content_type": "application/apply-patch+yaml"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def kube(clock: FakeClock) -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(clock=clock.now) as server:
        yield server


async def _client(server: FakeKubeServer, path: pathlib.Path) -> ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(server.write_kubeconfig(path)), client_configuration=cfg)
    return ApiClient(configuration=cfg)


@pytest.fixture
async def api(kube: FakeKubeServer, tmp_path: pathlib.Path) -> AsyncIterator[ApiClient]:
    async with await _client(kube, tmp_path / "kubeconfig") as api_client:
        yield api_client


@pytest.fixture
def apps(api: ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def core(api: ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "")
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def stored(kube: FakeKubeServer, kind: str, ns: str, name: str) -> dict[str, Any]:
    obj = kube.get(kind, ns, name)
    assert obj is not None, f"{kind} {ns}/{name} is not stored"
    return obj


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    refs = obj["metadata"].get("ownerReferences") or []
    return any(r["uid"] == owner["metadata"]["uid"] and r.get("controller") for r in refs)


def replicasets(kube: FakeKubeServer, ns: str, deployment: str) -> dict[str, dict[str, Any]]:
    """The Deployment's ReplicaSets keyed by revision annotation."""
    dep = stored(kube, "Deployment", ns, deployment)
    return {
        rs["metadata"]["annotations"][REVISION]: rs for rs in kube.list("ReplicaSet", ns) if owned_by(rs, dep)
    }


def pods_of(kube: FakeKubeServer, rs: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in kube.list("Pod", rs["metadata"]["namespace"]) if owned_by(p, rs)]


# --- reads, discovery, auth ------------------------------------------------------------------------


async def test_read_deployment_matches_seeded_state(kube: FakeKubeServer, apps: client.AppsV1Api) -> None:
    kube.add_deployment("shop", "web", replicas=3, image="web:v2", revisions=["web:v1"], env={"MODE": "fast"})

    dep = await apps.read_namespaced_deployment("web", "shop")

    assert dep.spec.replicas == 3
    assert dep.spec.template.spec.containers[0].image == "web:v2"
    assert dep.spec.template.spec.containers[0].env[0].value == "fast"
    assert dep.metadata.annotations[REVISION] == "2"
    assert (
        dep.metadata.resource_version
        == stored(kube, "Deployment", "shop", "web")["metadata"]["resourceVersion"]
    )
    assert dep.status.observed_generation == dep.metadata.generation == 1
    assert dep.status.updated_replicas == dep.status.available_replicas == 3
    revs = replicasets(kube, "shop", "web")
    assert sorted(revs) == ["1", "2"]
    assert revs["1"]["spec"]["replicas"] == 0
    assert len(pods_of(kube, revs["2"])) == 3
    assert revs["2"]["metadata"]["creationTimestamp"] == "2026-02-28T12:00:00Z"  # a day before the clock


async def test_missing_object_is_404_with_not_found_status(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as err:
        await apps.read_namespaced_deployment("nope", "default")

    assert err.value.status == 404
    assert status_of(err.value) | {"metadata": {}} == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


async def test_requests_without_token_are_401_but_version_is_public(
    kube: FakeKubeServer, api: ApiClient
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{kube.url}/api/v1/namespaces/default/pods") as resp:
            assert resp.status == 401
            assert (await resp.json())["reason"] == "Unauthorized"
        async with session.get(f"{kube.url}/version") as resp:
            assert resp.status == 200

    version = await client.VersionApi(api).get_code()
    assert version.git_version.startswith("v1.")
    groups = await client.ApisApi(api).get_api_versions()
    assert {"apps", "events.k8s.io", "coordination.k8s.io"} <= {g.name for g in groups.groups}
    resources = await client.AppsV1Api(api).get_api_resources()
    assert "deployments/scale" in {r.name for r in resources.resources}


# --- optimistic concurrency -----------------------------------------------------------------------


async def test_replace_with_stale_resource_version_is_409(
    kube: FakeKubeServer, apps: client.AppsV1Api
) -> None:
    kube.add_deployment("shop", "web")
    stale = await apps.read_namespaced_deployment("web", "shop")
    await apps.patch_namespaced_deployment("web", "shop", {"metadata": {"labels": {"team": "a"}}})

    with pytest.raises(ApiException) as err:
        await apps.replace_namespaced_deployment("web", "shop", stale)

    assert err.value.status == 409
    assert status_of(err.value)["reason"] == "Conflict"
    assert "the object has been modified" in status_of(err.value)["message"]

    fresh = await apps.read_namespaced_deployment("web", "shop")
    fresh.metadata.labels["team"] = "b"
    replaced = await apps.replace_namespaced_deployment("web", "shop", fresh)
    assert int(replaced.metadata.resource_version) > int(fresh.metadata.resource_version)
    assert replaced.metadata.generation == 1  # metadata-only change


async def test_patch_carrying_stale_resource_version_is_409(
    kube: FakeKubeServer, apps: client.AppsV1Api
) -> None:
    kube.add_deployment("shop", "web")
    with pytest.raises(ApiException) as err:
        await apps.patch_namespaced_deployment(
            "web", "shop", {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 4}}
        )
    assert err.value.status == 409


# --- the kubectl-equivalent writes ----------------------------------------------------------------


async def test_rollout_restart_patch_creates_new_revision(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    before = {p["metadata"]["name"] for p in kube.list("Pod", "shop")}

    dep = await apps.patch_namespaced_deployment(
        "web",
        "shop",
        {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-03-01T12:00:00Z"}}}}},
    )

    assert kube.writes[-1].content_type == "application/strategic-merge-patch+json"
    # Real: the reply is the object as stored by the write: generation bumped, status untouched
    # (the previous observedGeneration), the revision annotation still the old one.
    assert dep.metadata.generation == 2
    assert dep.status.observed_generation == 1
    assert dep.metadata.annotations[REVISION] == "1"
    clock.advance(60)
    dep = await apps.read_namespaced_deployment("web", "shop")
    assert (dep.status.observed_generation, dep.metadata.annotations[REVISION]) == (2, "2")
    revs = replicasets(kube, "shop", "web")
    assert revs["1"]["spec"]["replicas"] == 0
    assert revs["2"]["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == "2026-03-01T12:00:00Z"
    new_pods = pods_of(kube, revs["2"])
    assert len(new_pods) == 2
    assert all(p["status"]["phase"] == "Running" for p in new_pods)
    assert before.isdisjoint(p["metadata"]["name"] for p in kube.list("Pod", "shop"))


async def test_set_env_patch_merges_containers_and_env_by_name(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", containers=("app", "proxy"), env={"A": "1", "B": "2"})

    env_patch = [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}, {"name": "A", "$patch": "delete"}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env_patch}]}}}}
    dep = await apps.patch_namespaced_deployment("web", "shop", patch)

    app, proxy = dep.spec.template.spec.containers
    assert [(e.name, e.value) for e in app.env] == [("B", "3"), ("C", "4")]
    assert [(e.name, e.value) for e in proxy.env] == [("A", "1"), ("B", "2")]
    assert app.image == "app:v1"  # untouched fields of the merged container survive
    clock.advance(1)
    assert stored(kube, "Deployment", "shop", "web")["metadata"]["annotations"][REVISION] == "2"


async def test_rollout_undo_json_patch_reuses_old_replicaset(
    kube: FakeKubeServer, api: ApiClient, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", image="web:v2", revisions=["web:v1"])
    dep = await apps.read_namespaced_deployment("web", "shop")

    # kubectl's DeploymentRollbacker: list by selector, keep the controlled ones, take the previous revision.
    selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
    listed = await apps.list_namespaced_replica_set("shop", label_selector=selector)
    owned = [
        rs
        for rs in listed.items
        if any(o.uid == dep.metadata.uid and o.controller for o in rs.metadata.owner_references)
    ]
    previous = next(rs for rs in owned if rs.metadata.annotations[REVISION] == "1")
    template = api.sanitize_for_serialization(previous.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    annotations = dict(dep.metadata.annotations)
    ops = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    undone = await apps.patch_namespaced_deployment("web", "shop", ops)

    assert kube.writes[-1].content_type == "application/json-patch+json"
    assert undone.spec.template.spec.containers[0].image == "web:v1"
    clock.advance(60)  # the controller renumbers the old ReplicaSet and rolls it out
    assert stored(kube, "Deployment", "shop", "web")["metadata"]["annotations"][REVISION] == "3"
    revs = replicasets(kube, "shop", "web")
    assert sorted(revs) == ["2", "3"]  # no new ReplicaSet: revision 1 was renumbered
    assert revs["3"]["metadata"]["name"] == previous.metadata.name
    assert revs["3"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert revs["3"]["spec"]["replicas"] == 2
    assert revs["2"]["spec"]["replicas"] == 0
    assert {p["spec"]["containers"][0]["image"] for p in kube.list("Pod", "shop")} == {"web:v1"}


async def test_merge_patch_replaces_lists_wholesale(kube: FakeKubeServer, apps: client.AppsV1Api) -> None:
    kube.add_deployment("shop", "web", containers=("app", "proxy"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v9"}]}}}}

    dep = await apps.patch_namespaced_deployment("web", "shop", patch, **MERGE_PATCH)

    assert kube.writes[-1].content_type == "application/merge-patch+json"
    assert [c.name for c in dep.spec.template.spec.containers] == ["app"]


async def test_json_patch_failures_are_422_and_unknown_patch_type_is_415(
    kube: FakeKubeServer, apps: client.AppsV1Api
) -> None:
    kube.add_deployment("shop", "web")
    failing = [
        [{"op": "test", "path": "/metadata/resourceVersion", "value": "0"}],
        [{"op": "replace", "path": "/metadata/labels/missing", "value": "x"}],
        [{"op": "remove", "path": "/spec/nothing"}],
    ]
    for ops in failing:
        with pytest.raises(ApiException) as err:
            await apps.patch_namespaced_deployment("web", "shop", ops)
        assert err.value.status == 422, ops
        assert status_of(err.value)["reason"] == "Invalid"

    with pytest.raises(ApiException) as err:
        await apps.patch_namespaced_deployment("web", "shop", {"spec": {"replicas": 1}}, **APPLY_PATCH)
    assert err.value.status == 415
    assert status_of(err.value)["reason"] == "UnsupportedMediaType"
    ops_ok = [
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "copy", "from": "/metadata/labels/tier", "path": "/metadata/labels/copy"},
        {"op": "move", "from": "/metadata/labels/copy", "path": "/metadata/labels/moved"},
        {"op": "test", "path": "/metadata/labels/moved", "value": "front"},
    ]
    dep = await apps.patch_namespaced_deployment("web", "shop", ops_ok)
    assert dep.metadata.labels == {"app": "web", "tier": "front", "moved": "front"}


async def test_validation_errors_are_422_invalid(kube: FakeKubeServer, apps: client.AppsV1Api) -> None:
    kube.add_deployment("shop", "web")
    bad = [
        ({"spec": {"replicas": -1}}, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        ({"metadata": {"labels": {"at": "2026-03-01T12:00:00Z"}}}, "metadata.labels: Invalid value"),
        ({"spec": {"selector": {"matchLabels": {"app": "other"}}}}, "spec.selector"),
    ]
    for patch, expected in bad:
        with pytest.raises(ApiException) as err:
            await apps.patch_namespaced_deployment("web", "shop", patch)
        body = status_of(err.value)
        assert (err.value.status, body["reason"]) == (422, "Invalid")
        assert body["message"].startswith('Deployment.apps "web" is invalid: ')
        assert expected in body["message"]
        assert body["details"]["kind"] == "Deployment"


# --- scale subresource ----------------------------------------------------------------------------


async def test_scale_subresource_read_patch_and_replace(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)

    scale = await apps.read_namespaced_deployment_scale("web", "shop")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (2, 2, "app=web")

    patched = await apps.patch_namespaced_deployment_scale(
        "web", "shop", {"spec": {"replicas": 4}}, **MERGE_PATCH
    )
    assert patched.spec.replicas == 4
    clock.advance(10)  # new pods started
    dep = stored(kube, "Deployment", "shop", "web")
    assert (dep["spec"]["replicas"], dep["status"]["availableReplicas"], dep["metadata"]["generation"]) == (
        4,
        4,
        2,
    )
    assert len(kube.list("Pod", "shop")) == 4

    await apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 3}})  # strategic
    with pytest.raises(ApiException) as err:
        await apps.replace_namespaced_deployment_scale(
            "web", "shop", scale
        )  # carries the old resourceVersion
    assert err.value.status == 409

    fresh = await apps.read_namespaced_deployment_scale("web", "shop")
    fresh.spec.replicas = 1
    assert (await apps.replace_namespaced_deployment_scale("web", "shop", fresh)).spec.replicas == 1
    clock.advance(40)  # surplus pods deleted, their grace period over
    assert len(kube.list("Pod", "shop")) == 1

    fresh = await apps.read_namespaced_deployment_scale("web", "shop")
    fresh.spec.replicas = -1
    with pytest.raises(ApiException) as err:
        await apps.replace_namespaced_deployment_scale("web", "shop", fresh)
    assert err.value.status == 422
    assert status_of(err.value)["message"].startswith('Scale.autoscaling "web" is invalid: spec.replicas')


# --- lists ----------------------------------------------------------------------------------------


async def test_list_pods_by_label_selector_and_pages(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.add_deployment("shop", "web", replicas=3, labels={"tier": "front"})
    kube.add_deployment("shop", "api", replicas=2)
    kube.add_pod("shop", "debug", labels={"app": "debug"})

    async def names(selector: str) -> set[str]:
        pods = await core.list_namespaced_pod("shop", label_selector=selector)
        return {p.metadata.labels["app"] for p in pods.items}

    assert await names("app=web") == {"web"}
    assert await names("app!=web") == {"api", "debug"}
    assert await names("app in (web, api)") == {"web", "api"}
    assert await names("app notin (web),tier") == set()
    assert await names("tier") == {"web"}
    assert await names("!tier") == {"api", "debug"}

    first = await core.list_namespaced_pod("shop", limit=4)
    assert len(first.items) == 4
    assert first.metadata.remaining_item_count == 2
    rest = await core.list_namespaced_pod("shop", limit=4, _continue=first.metadata._continue)
    assert len(rest.items) == 2
    assert rest.metadata._continue is None
    all_names = [p.metadata.name for p in [*first.items, *rest.items]]
    assert len(set(all_names)) == 6

    everywhere = await client.AppsV1Api(core.api_client).list_deployment_for_all_namespaces()
    assert {d.metadata.name for d in everywhere.items} == {"web", "api"}
    assert int(everywhere.metadata.resource_version) > 0


# --- deletes --------------------------------------------------------------------------------------


async def test_deleting_a_pod_makes_its_replicaset_replace_it(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    victim = kube.list("Pod", "shop")[0]

    deleted = await core.delete_namespaced_pod(victim["metadata"]["name"], "shop")

    assert deleted.metadata.uid == victim["metadata"]["uid"]
    assert deleted.metadata.deletion_timestamp is not None
    clock.advance(30)
    pods = kube.list("Pod", "shop")
    assert len(pods) == 2
    assert victim["metadata"]["name"] not in {p["metadata"]["name"] for p in pods}
    rs_name = victim["metadata"]["ownerReferences"][0]["name"]
    assert all(p["metadata"]["name"].startswith(rs_name + "-") for p in pods)


async def test_delete_with_stale_preconditions_is_409(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.add_deployment("shop", "web", replicas=1)
    pod = kube.list("Pod", "shop")[0]
    name, uid, rv = pod["metadata"]["name"], pod["metadata"]["uid"], pod["metadata"]["resourceVersion"]

    for pre in (client.V1Preconditions(uid="not-the-uid"), client.V1Preconditions(resource_version="1")):
        with pytest.raises(ApiException) as err:
            await core.delete_namespaced_pod(name, "shop", body=client.V1DeleteOptions(preconditions=pre))
        assert err.value.status == 409
        assert "Precondition failed" in status_of(err.value)["message"]

    opts = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid, resource_version=rv))
    await core.delete_namespaced_pod(name, "shop", body=opts, grace_period_seconds=0)
    assert kube.get("Pod", "shop", name) is None


async def test_deleting_a_deployment_cascades_unless_orphaned(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=2)
    kube.add_deployment("shop", "api", replicas=1)

    status = await apps.delete_namespaced_deployment("web", "shop")
    assert (status.status, status.details.name, status.details.kind) == ("Success", "web", "deployments")
    await apps.delete_namespaced_deployment("api", "shop", propagation_policy="Orphan")
    clock.advance(40)  # the garbage collector, then the pods' grace period

    assert kube.list("Deployment", "shop") == []
    remaining = kube.list("ReplicaSet", "shop")
    assert [rs["metadata"]["name"].split("-")[0] for rs in remaining] == ["api"]
    assert "ownerReferences" not in remaining[0]["metadata"]
    assert len(kube.list("Pod", "shop")) == 1


async def test_eviction_deletes_and_replaces_the_pod(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_deployment("shop", "web", replicas=1)
    name = kube.list("Pod", "shop")[0]["metadata"]["name"]
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace="shop"))

    await core.create_namespaced_pod_eviction(name, "shop", eviction)
    clock.advance(30)

    assert kube.get("Pod", "shop", name) is None
    assert len(kube.list("Pod", "shop")) == 1


# --- creates and events ---------------------------------------------------------------------------


async def test_create_conflicts_generate_name_and_missing_namespace(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="one", labels={"app": "x"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1")]),
    )
    created = await core.create_namespaced_pod("default", pod)
    assert created.metadata.uid and created.metadata.creation_timestamp == START
    assert created.status.phase == "Pending"  # the kubelet starts it a few seconds later

    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod("default", pod)
    assert (err.value.status, status_of(err.value)["reason"]) == (409, "AlreadyExists")
    assert status_of(err.value)["message"] == 'pods "one" already exists'

    pod.metadata = client.V1ObjectMeta(generate_name="one-")
    generated = await core.create_namespaced_pod("default", pod)
    assert generated.metadata.name.startswith("one-") and len(generated.metadata.name) == 9

    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod("nowhere", pod)
    assert status_of(err.value)["message"] == 'namespaces "nowhere" not found'

    pod.metadata = client.V1ObjectMeta(name="Not_A_Name")
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod("default", pod)
    assert (err.value.status, status_of(err.value)["reason"]) == (422, "Invalid")
    assert status_of(err.value)["details"]["causes"][0]["field"] == "metadata.name"


async def test_core_v1_event_roundtrips_and_rejects_naive_times(
    kube: FakeKubeServer, core: client.CoreV1Api, api: ApiClient
) -> None:
    kube.add_deployment("shop", "web")
    ref = client.V1ObjectReference(api_version="apps/v1", kind="Deployment", name="web", namespace="shop")

    def event(when: datetime) -> client.CoreV1Event:
        return client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="web."),
            involved_object=ref,
            reason="AutoRemediationRestarted",
            message="restarted by remediator",
            type="Normal",
            first_timestamp=when,
            last_timestamp=when,
            count=1,
            source=client.V1EventSource(component="remediator"),
        )

    created = await core.create_namespaced_event("shop", event(START))
    assert created.reason == "AutoRemediationRestarted"
    assert stored(kube, "Event", "shop", created.metadata.name)["message"] == "restarted by remediator"
    listed = await client.EventsV1Api(api).list_namespaced_event(
        "shop", field_selector="regarding.name=web", _preload_content=False
    )
    items = (await listed.json())["items"]  # type: ignore[attr-defined]  # raw response, as preload is off
    assert [(e["regarding"]["kind"], e["note"]) for e in items] == [("Deployment", "restarted by remediator")]

    with pytest.raises(ApiException) as err:
        await core.create_namespaced_event("shop", event(START.replace(tzinfo=None)))
    assert err.value.status == 400  # decoding error, as the real server answers
    assert 'cannot parse "" as "Z07:00"' in status_of(err.value)["message"]


async def test_events_v1_event_validates_required_fields_and_micro_time(api: ApiClient) -> None:
    events = client.EventsV1Api(api)
    ref = client.V1ObjectReference(kind="Deployment", name="web", namespace="default")

    def event(when: datetime, controller: str | None = "example.com/remediator") -> client.EventsV1Event:
        return client.EventsV1Event(
            metadata=client.V1ObjectMeta(generate_name="web."),
            event_time=when,
            reporting_controller=controller,
            reporting_instance="remediator-0",
            action="RolloutRestart",
            reason="AutoRemediationRestarted",
            type="Normal",
            regarding=ref,
            note="restarted",
        )

    created = await events.create_namespaced_event("default", event(START.replace(microsecond=1)))
    assert created.note == "restarted"
    assert created.event_time == START.replace(microsecond=1)
    read_back = await client.CoreV1Api(api).read_namespaced_event(created.metadata.name, "default")
    assert (read_back.message, read_back.reporting_component) == ("restarted", "example.com/remediator")

    with pytest.raises(ApiException) as err:  # isoformat() of a whole second has no fraction: not a MicroTime
        await events.create_namespaced_event("default", event(START))
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        await events.create_namespaced_event("default", event(START.replace(microsecond=1), controller=None))
    assert err.value.status == 422
    assert "reportingController: Required value" in status_of(err.value)["message"]


# --- fault injection ------------------------------------------------------------------------------


async def test_injected_500_fails_once_and_is_recorded(kube: FakeKubeServer, apps: client.AppsV1Api) -> None:
    kube.add_deployment("shop", "web")
    fault = kube.inject(status=500, method="PATCH", path=r"/deployments/web$")

    with pytest.raises(ApiException) as err:
        await apps.patch_namespaced_deployment("web", "shop", {"metadata": {"labels": {"a": "b"}}})
    assert status_of(err.value)["reason"] == "InternalError"
    await apps.read_namespaced_deployment("web", "shop")  # GET does not match the fault
    await apps.patch_namespaced_deployment("web", "shop", {"metadata": {"labels": {"a": "b"}}})

    assert (fault.hits, fault.remaining) == (1, 0)
    assert [r.status for r in kube.requests] == [500, 200, 200]
    assert len(kube.writes) == 1
    assert kube.writes[0].body == {"metadata": {"labels": {"a": "b"}}}


async def test_injected_429_carries_retry_after(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.inject(status=429, path="/pods", retry_after=2, times=2)

    for _ in range(2):
        with pytest.raises(ApiException) as err:
            await core.list_namespaced_pod("default")
        assert err.value.status == 429
        assert err.value.headers is not None
        assert err.value.headers["Retry-After"] == "2"
        assert status_of(err.value)["details"]["retryAfterSeconds"] == 2
    await core.list_namespaced_pod("default")


async def test_slow_response_hits_the_client_timeout(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.inject(status=0, delay=0.5, path="/pods")

    with pytest.raises(asyncio.TimeoutError):
        await core.list_namespaced_pod("default", _request_timeout=0.05)
    kube.clear_faults()
    await core.list_namespaced_pod("default", _request_timeout=1)


async def test_custom_fault_body_is_sent_verbatim(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.inject(status=503, body="<html>upstream connect error</html>")
    with pytest.raises(ApiException) as err:
        await core.list_namespaced_pod("default")
    body: Any = err.value.body  # str at runtime, although the stubs say bytes
    assert (err.value.status, body) == (503, "<html>upstream connect error</html>")


# --- rollouts -------------------------------------------------------------------------------------


async def test_manual_rollout_leaves_status_stale_until_completed(tmp_path: pathlib.Path) -> None:
    clock = FakeClock(START, autojump=False)
    async with (
        FakeKubeServer(clock=clock, rollout="manual") as kube,
        await _client(kube, tmp_path / "kc") as api,
    ):
        apps = client.AppsV1Api(api)
        kube.add_deployment("shop", "web", replicas=2)
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "now"}}}}}
        await apps.patch_namespaced_deployment("web", "shop", patch)
        clock.advance(60)  # however long it waits, a manual rollout's new pods never start

        dep = await apps.read_namespaced_deployment("web", "shop")
        assert (dep.metadata.generation, dep.status.observed_generation) == (2, 2)
        # One surge pod (maxSurge 25% of 2, rounded up) waits; maxUnavailable 0 keeps both old pods.
        assert (dep.status.updated_replicas, dep.status.ready_replicas, dep.status.replicas) == (1, 2, 3)
        revs = replicasets(kube, "shop", "web")
        assert revs["1"]["spec"]["replicas"] == 2  # the old ReplicaSet still serves
        assert {p["status"]["phase"] for p in pods_of(kube, revs["2"])} == {"Pending"}

        kube.complete_rollouts()

        dep = await apps.read_namespaced_deployment("web", "shop")
        assert dep.status.observed_generation == 2
        assert dep.status.updated_replicas == dep.status.ready_replicas == 2
        assert [c.reason for c in dep.status.conditions] == [
            "MinimumReplicasAvailable",
            "NewReplicaSetAvailable",
        ]
        revs = replicasets(kube, "shop", "web")
        assert revs["1"]["spec"]["replicas"] == 0
        assert pods_of(kube, revs["1"]) == []
        assert {p["status"]["phase"] for p in kube.list("Pod", "shop")} == {"Running"}


async def test_statefulset_and_daemonset_restart(
    kube: FakeKubeServer, apps: client.AppsV1Api, clock: FakeClock
) -> None:
    kube.add_statefulset("data", "db", replicas=2)
    kube.add_daemonset("data", "agent")
    old_uids = {p["metadata"]["uid"] for p in kube.list("Pod", "data")}
    before = await apps.read_namespaced_stateful_set("db", "data")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "now"}}}}}

    await apps.patch_namespaced_stateful_set("db", "data", patch)
    await apps.patch_namespaced_daemon_set("agent", "data", patch)
    clock.advance(300)  # one pod at a time: grace period, start, next
    sts = await apps.read_namespaced_stateful_set("db", "data")
    ds = await apps.read_namespaced_daemon_set("agent", "data")

    assert sts.status.observed_generation == 2
    assert sts.status.update_revision == sts.status.current_revision != before.status.update_revision
    assert (
        ds.status.observed_generation,
        ds.status.updated_number_scheduled,
        ds.status.number_available,
    ) == (2, 3, 3)
    pods = kube.list("Pod", "data")
    assert {p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("db-")} == {
        "db-0",
        "db-1",
    }
    assert old_uids.isdisjoint(p["metadata"]["uid"] for p in pods)


async def test_dry_run_changes_nothing_and_is_not_a_write(
    kube: FakeKubeServer, apps: client.AppsV1Api
) -> None:
    kube.add_deployment("shop", "web", replicas=2)

    dry = await apps.patch_namespaced_deployment("web", "shop", {"spec": {"replicas": 5}}, dry_run="All")

    assert dry.spec.replicas == 5
    assert stored(kube, "Deployment", "shop", "web")["spec"]["replicas"] == 2
    assert kube.writes == []


async def test_lease_create_and_conflicting_replace(api: ApiClient) -> None:
    leases = client.CoordinationV1Api(api)
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="remediator"),
        spec=client.V1LeaseSpec(
            holder_identity="a", lease_duration_seconds=15, renew_time=START.replace(microsecond=5)
        ),
    )
    created = await leases.create_namespaced_lease("default", body)
    created.spec.holder_identity = "b"
    await leases.replace_namespaced_lease("remediator", "default", created)
    with pytest.raises(ApiException) as err:
        await leases.replace_namespaced_lease("remediator", "default", created)
    assert err.value.status == 409
