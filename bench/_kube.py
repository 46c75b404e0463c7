"""The fake Kubernetes API server as the storm and latency benchmarks use it.

`FakeKubeServer` records every request in `.requests` but not when it arrived; the benchmarks
swap that list for `TimedRequests`, which stamps `time.perf_counter()` as each request is
recorded (at the start of the fake's handler, before it answers).

`scope_reconcile` keeps the fake from being the bottleneck. The fake queues a controller pass
over a changed object's whole namespace (every Deployment, ReplicaSet and Pod there, with deep
copies) half a second after each change, and the storm keeps 50 Deployments in a namespace: 200
rolling restarts, one every 20 ms, cost the fake 5.3 s of CPU in passes of up to 250 ms, run in
this process between the requests whose answers the daemon waits for (and whose arrival the
latency run times). Scoped, a change to a Deployment, its ReplicaSets or their pods queues a pass
over that Deployment only (sync, its ReplicaSets, its status: what the namespace's pass does for
it): 2.7 s; anything else goes to the fake's own pass. (With one Deployment a namespace, as the
latency run has, 1.0 s, passes of under 20 ms.) Both wrap the instance from here;
remediator/testing is not modified.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, SupportsIndex

from bench.workload import TargetRef
from remediator.testing.fake_kube import FakeKubeServer, RecordedRequest

_INERT = frozenset({"Event", "Lease"})


class TimedRequests(list[RecordedRequest]):
    """A list that remembers when each element was appended (perf_counter seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: RecordedRequest) -> None:
        self.times.append(time.perf_counter())
        super().append(item)

    def __setitem__(self, index: Any, value: Any) -> None:  # pragma: no cover - the fake never does this
        raise TypeError("TimedRequests is append-only")

    def insert(self, index: SupportsIndex, item: RecordedRequest) -> None:  # pragma: no cover
        raise TypeError("TimedRequests is append-only")


def timed(kube: FakeKubeServer) -> TimedRequests:
    requests = TimedRequests()
    kube.requests = requests
    return requests


def scope_reconcile(kube: FakeKubeServer) -> None:
    """Controller passes over the Deployment a change touched, not its namespace (module docstring)."""
    controllers: Any = kube._controllers
    store: Any = controllers.store
    full_pass = controllers._on_change

    def deployment_of(kind: str, obj: dict[str, Any], namespace: str) -> str | None:
        if kind == "Deployment":
            return str(obj["metadata"]["name"])
        for ref in obj["metadata"].get("ownerReferences") or []:
            if kind == "ReplicaSet" and ref["kind"] == "Deployment":
                return str(ref["name"])
            if kind == "Pod" and ref["kind"] == "ReplicaSet":
                rs = store.get("ReplicaSet", namespace, ref["name"])
                return None if rs is None else deployment_of("ReplicaSet", rs, namespace)
        return None

    def settle(namespace: str, name: str) -> None:
        # What the namespace's pass does for this Deployment: sync it, its ReplicaSets, its status.
        dep = store.get("Deployment", namespace, name)
        if dep is None:
            return
        controllers.deployments.sync(dep)
        for rs in controllers.ctx.owned("ReplicaSet", dep):
            controllers.replicasets.sync(rs)
        controllers.deployments.refresh_status(dep)

    def on_change(event: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        namespace = obj["metadata"].get("namespace", "")
        name = deployment_of(kind, obj, namespace) if namespace and kind not in _INERT else None
        if name is None:
            full_pass(event, kind, obj, old)  # Events and Leases: nothing; anything else: as the fake does
            return
        controllers.timeline.after(
            controllers.timing.controller_delay_s,
            lambda: settle(namespace, name),
            key=f"sync/{namespace}/Deployment/{name}",
        )

    store.listeners[store.listeners.index(full_pass)] = on_change


def seed(kube: FakeKubeServer, targets: list[TargetRef]) -> None:
    for t in targets:
        kube.add_deployment(t.namespace, t.deployment, image="app:v2", revisions=["app:v1"], replicas=1)


def deployment_path(t: TargetRef) -> str:
    return f"/apis/apps/v1/namespaces/{t.namespace}/deployments/{t.deployment}"


def write_counts(kube: FakeKubeServer) -> dict[str, Any]:
    """Successful writes at the fake by method and resource, and the Deployments patched."""
    by_kind: Counter[str] = Counter()
    patched: Counter[str] = Counter()
    for r in kube.writes:
        parts = r.path.strip("/").split("/")
        resource = parts[-2] if r.method in ("PATCH", "PUT", "DELETE") else parts[-1]
        by_kind[f"{r.method} {resource}"] += 1
        if r.method == "PATCH" and resource == "deployments":
            patched[r.path] += 1
    return {
        "writes": len(kube.writes),
        "by_kind": dict(by_kind),
        "deployments_patched": len(patched),
        "deployment_patches": sum(patched.values()),
        "max_patches_per_deployment": max(patched.values(), default=0),
        "requests": len(kube.requests),
    }
