"""The fake Kubernetes API server as the storm and latency benchmarks use it.

`FakeKubeServer` records every request in `.requests` but not when it arrived; the benchmarks
swap that list for `TimedRequests`, which stamps `time.perf_counter()` as each request is
recorded (at the start of the fake's handler, before it answers).

`scope_reconcile` keeps the fake from being the bottleneck: after every write it runs its
controllers over every Deployment, ReplicaSet and Pod in the store (with deep copies), Event
writes included, so with 500 Deployments each write costs tens of milliseconds and a storm
measures the fake, not the daemon. Scoped, a write to a Deployment settles only that
Deployment (its ReplicaSets, pods and status, as the full pass would) and other writes (Events)
reconcile nothing. Both wrap the instance from here; remediator/testing is not modified.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, SupportsIndex

from bench.workload import TargetRef
from remediator.testing.fake_kube import FakeKubeServer, RecordedRequest


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
    """Reconcile only the Deployment a write touched (see the module docstring)."""
    api: Any = kube._api
    controllers: Any = kube._controllers
    handle = api.handle
    touched: list[tuple[str, str]] = []

    def scoped_handle(method: str, path: str, *args: Any) -> Any:
        parts = path.strip("/").split("/")
        if len(parts) >= 6 and parts[-2] == "deployments" and parts[-4] == "namespaces":
            touched.append((parts[-3], parts[-1]))
        try:
            return handle(method, path, *args)
        finally:
            touched.clear()

    def scoped_reconcile(_namespace: str | None = None, *, kind: str | None = None) -> None:
        # The fake itself now settles only the written namespace; the storm keeps 500 Deployments in
        # one namespace, so the bench narrows it further to the written Deployment.
        for namespace, name in touched:
            controllers.settle_deployment(namespace, name)

    api.handle = scoped_handle
    controllers.reconcile = scoped_reconcile


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
