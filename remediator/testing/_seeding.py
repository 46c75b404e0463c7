"""Seeding helpers of FakeKubeServer: a settled cluster built in one call per object.

Seeded objects are what a real cluster would hold after it settled: Deployments with
their rollout history as ReplicaSets and Running pods, StatefulSets and DaemonSets with
their pods, PodDisruptionBudgets with their computed status. Nothing is left for the
controllers to do, so seeding leaves no work on the timeline and never moves the clock.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from remediator.testing._controllers import Controllers
from remediator.testing._objects import (
    apply_defaults,
    owner_reference,
    pod_template,
    templates_equal,
    workload,
)
from remediator.testing._pods import PodState, new_pod
from remediator.testing._store import Obj, Store
from remediator.testing._validation import validate

_SEED_AGE = timedelta(days=1)
"""How long ago seeded workloads rolled out by default: long enough not to count as a recent deploy."""
_PHASE_STATES: Mapping[str, PodState] = {
    "Running": "ready",
    "Pending": "pending",
    "Succeeded": "succeeded",
    "Failed": "failed",
}


_SEEDED_BY_NAME = "fake.remediator.io/seeded-by-name"
"""Marks a pod a test named in place of a generated one, so the next named pod replaces another."""


class Seeding:
    _store: Store
    _controllers: Controllers

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def _check(self, kind: str, obj: Obj) -> None:
        causes = validate(kind, obj, None)
        if causes:
            raise ValueError(
                f"{kind} {obj['metadata'].get('name')!r}: " + "; ".join(c.render() for c in causes)
            )

    def _ensure_namespace(self, namespace: str) -> None:
        if self._store.get("Namespace", "", namespace) is None:
            self.add_namespace(namespace)

    def add_namespace(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a Namespace, or add labels/annotations to an existing one."""
        current = self._store.get("Namespace", "", name)
        ns: Obj = (
            copy.deepcopy(current)
            if current
            else {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
        if labels:
            ns["metadata"].setdefault("labels", {}).update(labels)
        if annotations:
            ns["metadata"].setdefault("annotations", {}).update(annotations)
        apply_defaults("Namespace", ns)
        self._check("Namespace", ns)
        with self._controllers.seeding():
            if current is None:
                self._store.insert("Namespace", ns)
            else:
                self._store.save("Namespace", ns)
        return copy.deepcopy(ns)

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 2,
        image: str = "app:v1",
        revisions: Sequence[str] = (),
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        template_annotations: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        containers: Sequence[str] = ("app",),
        paused: bool = False,
        rolled_out_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Seed a settled Deployment with its rollout history.

        `revisions` are the images of older revisions, oldest first; each becomes a
        ReplicaSet scaled to 0 with revision "1", "2", ... and the current template
        (running `image`, with `template_annotations`) is the newest revision with
        `replicas` Running pods. Every container runs the revision's image and `env`.
        `rolled_out_at` (default: a day before the clock) is the newest ReplicaSet's
        creationTimestamp; older revisions are a day apart before it.
        """
        self._ensure_namespace(namespace)
        base = {"app": name, **(labels or {})}
        rolled = rolled_out_at or self._store.now() - _SEED_AGE
        current = pod_template(
            base, containers=containers, image=image, env=env, annotations=template_annotations
        )
        dep = workload(
            "Deployment",
            namespace,
            name,
            template=current,
            labels=base,
            annotations=annotations,
            replicas=replicas,
        )
        if paused:
            dep["spec"]["paused"] = True
        self._check("Deployment", dep)
        if self._store.get("Deployment", namespace, name) is not None:
            raise ValueError(f"Deployment {namespace}/{name} already exists")
        older = [pod_template(base, containers=containers, image=img, env=env) for img in revisions]
        for i, template in enumerate(older):
            if any(templates_equal(template, t) for t in [*older[i + 1 :], current]):
                raise ValueError(
                    f"add_deployment {name!r}: revision {i + 1} ({revisions[i]!r}) repeats a later template"
                )
        with self._controllers.seeding():
            with self._store.pinned(rolled - _SEED_AGE * len(older)):
                self._store.insert("Deployment", dep)
            for i, template in enumerate(older):
                with self._store.pinned(rolled - _SEED_AGE * (len(older) - i)):
                    self._controllers.deployments.create_replicaset(dep, revision=i + 1, template=template)
        with self._store.pinned(rolled):
            self._controllers.settle_seeded(namespace)
        return self.get("Deployment", namespace, name) or {}

    def _add_set(
        self,
        kind: Literal["StatefulSet", "DaemonSet"],
        namespace: str,
        name: str,
        *,
        replicas: int | None,
        image: str,
        labels: Mapping[str, str] | None,
        annotations: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        self._ensure_namespace(namespace)
        base = {"app": name, **(labels or {})}
        template = pod_template(base, containers=("app",), image=image)
        obj = workload(
            kind, namespace, name, template=template, labels=base, annotations=annotations, replicas=replicas
        )
        self._check(kind, obj)
        if self._store.get(kind, namespace, name) is not None:
            raise ValueError(f"{kind} {namespace}/{name} already exists")
        with self._controllers.seeding():
            self._store.insert(kind, obj)
        self._controllers.settle_seeded(namespace)
        return self.get(kind, namespace, name) or {}

    def add_statefulset(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 2,
        image: str = "app:v1",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Seed a settled StatefulSet with pods `<name>-0` .. `<name>-<replicas-1>`."""
        return self._add_set(
            "StatefulSet",
            namespace,
            name,
            replicas=replicas,
            image=image,
            labels=labels,
            annotations=annotations,
        )

    def add_daemonset(
        self,
        namespace: str,
        name: str,
        *,
        image: str = "app:v1",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Seed a settled DaemonSet with one Running pod on each of the fake's three nodes."""
        return self._add_set(
            "DaemonSet", namespace, name, replicas=None, image=image, labels=labels, annotations=annotations
        )

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        phase: str = "Running",
        owner: Mapping[str, Any] | None = None,
        containers: Sequence[str] = ("app",),
        replacing: bool = False,
    ) -> dict[str, Any]:
        """Seed one pod (containers running image `app:v1`) in `phase`.

        `owner` is either an object (as returned by the add_* helpers or `get`), made
        the pod's controller, or a ready-made ownerReference dict. Controllers adopt
        nothing: an owned pod beyond its ReplicaSet's replicas is deleted at the next
        controller pass, as the real ReplicaSet controller would. `replacing=True` takes
        the place of one of the owner's own pods instead (a test naming a pod of a
        running workload), so the count stays at its replicas.
        """
        if phase not in _PHASE_STATES:
            raise ValueError(f"add_pod: phase {phase!r} must be one of {sorted(_PHASE_STATES)}")
        self._ensure_namespace(namespace)
        if self._store.get("Pod", namespace, name) is not None:
            raise ValueError(f"Pod {namespace}/{name} already exists")
        template = pod_template(labels or {}, containers=containers, image="app:v1")
        pod = new_pod(
            namespace=namespace,
            name=name,
            template=template,
            owner=None,
            node="fake-node-1",
            state=_PHASE_STATES[phase],
            at=self._store.timestamp(),
            pod_ip=f"10.244.0.{len(self._store.items('Pod')) % 250 + 2}",
        )
        if owner is not None:
            ref = owner_reference(owner) if "metadata" in owner else dict(owner)
            pod["metadata"]["ownerReferences"] = [ref]
            if replacing:
                siblings = [
                    p
                    for p in self._store.items("Pod", namespace)
                    if any(r.get("uid") == ref.get("uid") for r in p["metadata"].get("ownerReferences") or [])
                    and not p["metadata"].get("annotations", {}).get(_SEEDED_BY_NAME)
                ]
                if siblings:
                    self._store.remove("Pod", namespace, siblings[-1]["metadata"]["name"])
                pod["metadata"].setdefault("annotations", {})[_SEEDED_BY_NAME] = "true"
        self._check("Pod", pod)
        with self._controllers.seeding():
            self._store.insert("Pod", pod)
        return self.get("Pod", namespace, name) or {}

    def add_pdb(
        self,
        namespace: str,
        name: str,
        *,
        selector: Mapping[str, str],
        min_available: int | str | None = None,
        max_unavailable: int | str | None = None,
        unhealthy_pod_eviction_policy: str | None = None,
    ) -> dict[str, Any]:
        """Seed a policy/v1 PodDisruptionBudget selecting `selector` labels, its status computed."""
        self._ensure_namespace(namespace)
        spec: Obj = {"selector": {"matchLabels": dict(selector)}}
        if min_available is not None:
            spec["minAvailable"] = min_available
        if max_unavailable is not None:
            spec["maxUnavailable"] = max_unavailable
        if unhealthy_pod_eviction_policy is not None:
            spec["unhealthyPodEvictionPolicy"] = unhealthy_pod_eviction_policy
        pdb: Obj = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
            "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
        }
        self._check("PodDisruptionBudget", pdb)
        if self._store.get("PodDisruptionBudget", namespace, name) is not None:
            raise ValueError(f"PodDisruptionBudget {namespace}/{name} already exists")
        with self._controllers.seeding():
            self._store.insert("PodDisruptionBudget", pdb)
        self._controllers.settle_seeded(namespace)
        return self.get("PodDisruptionBudget", namespace, name) or {}
