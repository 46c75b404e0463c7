"""One cluster's API, call by call: each under a timeout, answered as the server's JSON.

Objects are read as the API server's JSON (`_preload_content=False`), not as the client's
generated models: a model round-trip drops fields the models do not know, and `rollout undo`
writes a ReplicaSet's template back whole, so it must be byte-faithful. Every failure leaves as a
`RemediatorError` saying what to do about it (errors.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import Clock
from remediator.errors import RemediatorError, TransientActionError
from remediator.kube.errors import Op, status_error
from remediator.kube.fence import before_write
from remediator.model import Target, WorkloadKind

__all__ = ["JSON_PATCH", "MERGE", "RESOURCES", "STRATEGIC_MERGE", "KubeClient", "Op"]

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

RESOURCES: dict[WorkloadKind, str] = {
    "Deployment": "deployments.apps",
    "StatefulSet": "statefulsets.apps",
    "DaemonSet": "daemonsets.apps",
}
_WRITES = frozenset({"patch", "create", "delete"})
"""Verbs that change the cluster: each is fenced by the lease (kube/fence.py) right before it is sent."""
_PAGE = 500
"""List page size: one page covers nearly every namespace, yet a huge one cannot time a call out."""


class KubeClient:
    """The calls the actions make, for one cluster. kubernetes-asyncio has no default timeout:
    every call here runs under `call_timeout_s`.

    At most `max_in_flight` calls are in flight at once: under a storm, executions, verification
    polls and evidence reads queue here rather than pile onto the API server (a starved one answers
    everything late, so every call would time out). A call's timeout starts when it is sent, so the
    queue does not fail it; the wait for a slot has a bound of its own (`call_timeout_s` again)."""

    def __init__(
        self, api: ApiClient, *, call_timeout_s: float, clock: Clock, max_in_flight: int = 10
    ) -> None:
        self._timeout_s = call_timeout_s
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)
        self._events = client.EventsV1Api(api)
        self._batch = client.BatchV1Api(api)
        self._version = client.VersionApi(api)

    async def probe(self) -> tuple[bool, str]:
        """Whether GET /version answers, with the server's version or the reason it is unreachable."""
        try:
            info = await self._send(Op("get", "/version", None), self._version.get_code)
        except RemediatorError as e:
            return False, str(e)
        return True, f"server {info.get('gitVersion', 'unknown version')}"

    # -- workloads -----------------------------------------------------------------------------------

    async def read_workload(self, target: Target) -> dict[str, Any]:
        readers = {
            "Deployment": self._apps.read_namespaced_deployment,
            "StatefulSet": self._apps.read_namespaced_stateful_set,
            "DaemonSet": self._apps.read_namespaced_daemon_set,
        }
        op = Op("get", RESOURCES[target.kind], target.namespace, target.name)
        obj: dict[str, Any] = await self._send(op, readers[target.kind], target.name, target.namespace)
        return obj

    async def patch_workload(self, target: Target, body: Any, content_type: str) -> dict[str, Any]:
        """Patch the workload; the object as the API server answered (the spec as written)."""
        patchers = {
            "Deployment": self._apps.patch_namespaced_deployment,
            "StatefulSet": self._apps.patch_namespaced_stateful_set,
            "DaemonSet": self._apps.patch_namespaced_daemon_set,
        }
        op = Op("patch", RESOURCES[target.kind], target.namespace, target.name)
        obj: dict[str, Any] = await self._send(
            op, patchers[target.kind], target.name, target.namespace, body, _content_type=content_type
        )
        return obj

    async def read_scale(self, target: Target) -> dict[str, Any]:
        """The scale subresource of a Deployment or StatefulSet."""
        reader = (
            self._apps.read_namespaced_deployment_scale
            if target.kind == "Deployment"
            else self._apps.read_namespaced_stateful_set_scale
        )
        op = Op("get", f"{RESOURCES[target.kind]}/scale", target.namespace, target.name)
        scale: dict[str, Any] = await self._send(op, reader, target.name, target.namespace)
        return scale

    async def patch_scale(self, target: Target, body: Any) -> None:
        """Merge-patch the scale subresource (a resourceVersion in `body` is a precondition)."""
        patcher = (
            self._apps.patch_namespaced_deployment_scale
            if target.kind == "Deployment"
            else self._apps.patch_namespaced_stateful_set_scale
        )
        op = Op("patch", f"{RESOURCES[target.kind]}/scale", target.namespace, target.name)
        await self._send(op, patcher, target.name, target.namespace, body, _content_type=MERGE)

    async def list_replica_sets(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return await self._list(
            Op("list", "replicasets.apps", namespace),
            self._apps.list_namespaced_replica_set,
            namespace,
            selector,
        )

    # -- pods, namespaces, events ------------------------------------------------------------------

    async def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod, or None when there is none of that name."""
        op = Op("get", "pods", namespace, name)
        pod: dict[str, Any] | None = await self._send(
            op, self._core.read_namespaced_pod, name, namespace, tolerate=(404,)
        )
        return pod

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return await self._list(
            Op("list", "pods", namespace), self._core.list_namespaced_pod, namespace, selector
        )

    async def delete_pod(self, namespace: str, name: str, *, uid: str | None) -> bool:
        """Delete the pod if it is still the one with `uid`. False: already gone (404), or replaced
        under the same name meanwhile (409: the UID precondition failed)."""
        body = {"preconditions": {"uid": uid}}
        op = Op("delete", "pods", namespace, name)
        gone = await self._send(
            op, self._core.delete_namespaced_pod, name, namespace, body=body, tolerate=(404, 409)
        )
        return gone is not None

    async def evict_pod(self, namespace: str, name: str, *, uid: str | None, dry_run: bool = False) -> bool:
        """Evict the pod through policy/v1 Eviction, so PodDisruptionBudgets are respected. False:
        already gone (404) or replaced under the same name (409: the UID precondition failed).

        A budget that allows no disruption now raises `TryLaterError`. `dry_run` asks the API server
        whether the eviction would be allowed, changing nothing (the plan's check).
        """
        body: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
            "deleteOptions": {"preconditions": {"uid": uid}},
        }
        kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        op = Op("create", "pods/eviction", namespace, name)
        done = await self._send(
            op,
            self._core.create_namespaced_pod_eviction,
            name,
            namespace,
            body,
            tolerate=(404, 409),
            **kwargs,
        )
        return done is not None

    async def read_namespace(self, name: str) -> dict[str, Any]:
        op = Op("get", "namespaces", None, name)
        ns: dict[str, Any] = await self._send(op, self._core.read_namespace, name)
        return ns

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        """An events.k8s.io/v1 Event."""
        op = Op("create", "events.events.k8s.io", namespace)
        await self._send(op, self._events.create_namespaced_event, namespace, body)

    async def list_events(self, namespace: str, *, field_selector: str, limit: int) -> list[dict[str, Any]]:
        """Core v1 Events matching the field selector (`involvedObject.name=x`), one page of `limit`:
        evidence wants the recent ones, not a namespace's whole history."""
        op = Op("list", "events", namespace)
        page = await self._send(
            op, self._core.list_namespaced_event, namespace, field_selector=field_selector, limit=limit
        )
        items: list[dict[str, Any]] = page.get("items") or []
        return items

    async def read_pod_log(
        self, namespace: str, name: str, *, container: str, tail_lines: int, limit_bytes: int, previous: bool
    ) -> str | None:
        """The last lines of one container's log; None when there is none to read (400: the container
        has not started or has no previous instance; 404: the pod is gone)."""
        op = Op("get", "pods/log", namespace, name)
        text: str | None = await self._send(
            op,
            self._core.read_namespaced_pod_log,
            name,
            namespace,
            container=container,
            tail_lines=tail_lines,
            limit_bytes=limit_bytes,
            previous=previous,
            tolerate=(400, 404),
            as_text=True,
        )
        return text

    # -- jobs ----------------------------------------------------------------------------------------

    async def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a batch/v1 Job; None when one of that name exists already (409 AlreadyExists)."""
        op = Op("create", "jobs.batch", namespace, body["metadata"]["name"])
        job: dict[str, Any] | None = await self._send(
            op, self._batch.create_namespaced_job, namespace, body, tolerate=(409,)
        )
        return job

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        op = Op("get", "jobs.batch", namespace, name)
        job: dict[str, Any] | None = await self._send(
            op, self._batch.read_namespaced_job, name, namespace, tolerate=(404,)
        )
        return job

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job and, in the background, its pods (an abandoned Job must not keep running)."""
        op = Op("delete", "jobs.batch", namespace, name)
        body = {"propagationPolicy": "Background"}
        await self._send(op, self._batch.delete_namespaced_job, name, namespace, body=body, tolerate=(404,))

    # -- plumbing ------------------------------------------------------------------------------------

    async def _list(
        self, op: Op, call: Callable[..., Awaitable[Any]], namespace: str, selector: str
    ) -> list[dict[str, Any]]:
        """Every item of a paginated list call, filtered server-side by the label selector."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"limit": _PAGE}
        if selector:
            kwargs["label_selector"] = selector
        while True:
            page = await self._send(op, call, namespace, **kwargs)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            kwargs["_continue"] = token

    async def _send(
        self,
        op: Op,
        call: Callable[..., Awaitable[Any]],
        *args: Any,
        tolerate: Collection[int] = (),
        as_text: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run one API call under the timeout and return its JSON body (None for a `tolerate`d status;
        the body as text with `as_text`: pod logs are not JSON).

        Every failure leaves as a RemediatorError saying what to do about it.
        """
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._slots.acquire()
        except TimeoutError as e:
            raise TransientActionError(
                f"{op}: not sent: all {self._max_in_flight} API call slots stayed busy for "
                f"{self._timeout_s:g}s (the API server answers slowly)"
            ) from e
        try:
            if op.verb in _WRITES:
                # After the slot wait, not before: the lease must cover the call from when it is sent.
                await before_write(self._timeout_s)
            return await self._sent(op, call, *args, tolerate=tolerate, as_text=as_text, **kwargs)
        finally:
            self._slots.release()

    async def _sent(
        self,
        op: Op,
        call: Callable[..., Awaitable[Any]],
        *args: Any,
        tolerate: Collection[int],
        as_text: bool,
        **kwargs: Any,
    ) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s):
                resp = await call(*args, _preload_content=False, _request_timeout=self._timeout_s, **kwargs)
                try:
                    data: bytes = await resp.read()
                finally:
                    resp.release()
        except ApiException as e:
            raise status_error(op, e.status or 0, e.headers, e.body, now=self._clock.now()) from e
        except TimeoutError as e:
            raise TransientActionError(f"{op}: no answer within {self._timeout_s:g}s") from e
        except aiohttp.ClientError as e:
            raise TransientActionError(f"{op}: cannot reach the API server: {e}") from e
        status = int(resp.status)
        if status in tolerate:
            return None
        if not 200 <= status < 300:
            raise status_error(op, status, resp.headers, data, now=self._clock.now())
        if as_text:
            return data.decode("utf-8", "replace")
        try:
            return json.loads(data) if data else {}
        except ValueError as e:
            raise TransientActionError(f"{op}: the API server sent invalid JSON") from e
