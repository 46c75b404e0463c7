"""Contract: watches, as kube-apiserver (with its watch cache) streams them to kubernetes-asyncio.

Sources: `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/watch.go` (JSON lines
`{"type","object"}`), `pkg/storage/cacher` (synthetic ADDED without a resourceVersion,
`newErrWatcher` for a too-old one: 200 then one ERROR event with a 410 Expired Status,
BOOKMARK events with only the resourceVersion), and kubernetes-asyncio's `watch.Watch`
(sends `watch=True`, raises ApiException(410) on the ERROR event).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer
from remediator.testing.fake_kube import TOKEN


def pod(name: str, **labels: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {"app": "x"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1")]),
    )


async def collect(stream: Any) -> list[tuple[str, str]]:
    return [(e["type"], e["raw_object"]["metadata"].get("name", "")) async for e in stream]


async def test_watch_from_a_resource_version_replays_added_modified_deleted(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_namespace("shop")
    start = (await core.list_namespaced_pod("shop")).metadata.resource_version
    await core.create_namespaced_pod("shop", pod("a"))
    await core.patch_namespaced_pod("a", "shop", {"metadata": {"labels": {"tier": "front"}}})
    await core.delete_namespaced_pod("a", "shop", grace_period_seconds=0)

    async with watch.Watch() as w:
        events = await collect(
            w.stream(core.list_namespaced_pod, "shop", resource_version=start, timeout_seconds=1)
        )
        # Real: every change after `start`, in order; a forced delete is one DELETED event.
        assert events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
        assert int(w.resource_version) > int(start)


async def test_watch_without_a_resource_version_starts_with_what_exists(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_deployment("shop", "web", replicas=2)

    async with watch.Watch() as w:
        stream = w.stream(core.list_namespaced_pod, "shop", timeout_seconds=1)
        first = [await stream.__anext__(), await stream.__anext__()]

    # Real: one synthetic ADDED per existing object, typed by the client as V1Pod.
    assert [e["type"] for e in first] == ["ADDED", "ADDED"]
    assert all(isinstance(e["object"], client.V1Pod) for e in first)


async def test_watch_follows_the_cluster_as_time_passes(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("shop")
    start = (await core.list_namespaced_pod("shop")).metadata.resource_version
    await core.create_namespaced_pod("shop", pod("a"))

    async def later() -> None:
        await asyncio.sleep(0.1)
        clock.advance(5)  # the kubelet starts the pod: the open watch sees it

    ticker = asyncio.create_task(later(), name="advance-clock")
    phases = []
    async with watch.Watch() as w:
        async for event in w.stream(
            core.list_namespaced_pod, "shop", resource_version=start, timeout_seconds=2
        ):
            phases.append((event["type"], event["object"].status.phase))
            if event["object"].status.phase == "Running":
                w.stop()
    await ticker
    assert phases == [("ADDED", "Pending"), ("MODIFIED", "Running")]


async def test_a_too_old_resource_version_is_410_expired(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_namespace("shop")
    await core.create_namespaced_pod("shop", pod("a"))
    await core.create_namespaced_pod("shop", pod("b"))
    kube.compact()

    async with watch.Watch() as w:
        with pytest.raises(ApiException) as err:
            await collect(w.stream(core.list_namespaced_pod, "shop", resource_version="1", timeout_seconds=1))
    # Real: kubernetes-asyncio raises on the ERROR event; status 410, reason "Expired: <message>".
    assert err.value.status == 410
    assert err.value.reason is not None and err.value.reason.startswith(
        "Expired: too old resource version: 1 ("
    )

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        url = f"{kube.url}/api/v1/namespaces/shop/pods?watch=true&resourceVersion=1"
        async with session.get(url) as resp:
            lines = (await resp.text()).splitlines()
    # Real (watch cache): 200, then one ERROR event carrying the Status, then the stream ends.
    assert resp.status == 200
    [line] = lines
    event = json.loads(line)
    assert event["type"] == "ERROR"
    assert event["object"] | {"message": ""} == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "",
        "reason": "Expired",
        "code": 410,
    }


@pytest.mark.parametrize("value", ["true", "True", "1", "t"])
async def test_watch_parameter_is_parsed_as_go_parses_a_bool(kube: FakeKubeServer, value: str) -> None:
    kube.add_pod("shop", "a")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        url = f"{kube.url}/api/v1/namespaces/shop/pods?watch={value}&timeoutSeconds=1"
        async with session.get(url) as resp:
            first = json.loads(await resp.content.readline())
        async with session.get(f"{kube.url}/api/v1/namespaces/shop/pods?watch=yes") as bad:
            body = await bad.json()
    # Real: `watch=True` (what kubernetes-asyncio sends) is a watch; an unparsable value is 400.
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
    assert (bad.status, body["reason"]) == (400, "BadRequest")


async def test_timeout_seconds_ends_the_stream_and_bookmarks_carry_the_version(
    kube: FakeKubeServer, core: client.CoreV1Api, clock: FakeClock
) -> None:
    kube.add_namespace("shop")
    start = (await core.list_namespaced_pod("shop")).metadata.resource_version

    async def later() -> None:
        await asyncio.sleep(0.1)
        clock.advance(61)  # past the bookmark interval...
        await asyncio.sleep(0.1)
        clock.advance(40)  # ...and past timeoutSeconds (101s) before the next bookmark

    ticker = asyncio.create_task(later(), name="advance-clock")
    async with watch.Watch() as w:
        events = [
            e
            async for e in w.stream(
                core.list_namespaced_pod,
                "shop",
                resource_version=start,
                timeout_seconds=100,
                allow_watch_bookmarks=True,
            )
        ]
    await ticker
    # Real: a BOOKMARK's object has only kind, apiVersion and metadata.resourceVersion.
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert events[0]["raw_object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": start},
    }


async def test_leaving_a_label_selector_is_a_deleted_event(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.add_namespace("shop")
    start = (await core.list_namespaced_pod("shop")).metadata.resource_version
    await core.create_namespaced_pod("shop", pod("a", app="web"))
    await core.patch_namespaced_pod("a", "shop", {"metadata": {"labels": {"app": "other"}}})
    await core.patch_namespaced_pod("a", "shop", {"metadata": {"labels": {"app": "web"}}})

    async with watch.Watch() as w:
        events = await collect(
            w.stream(
                core.list_namespaced_pod,
                "shop",
                label_selector="app=web",
                resource_version=start,
                timeout_seconds=1,
            )
        )
    # Real (cacher filtering): an object that stops matching is DELETED, one that starts is ADDED.
    assert events == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "a")]
