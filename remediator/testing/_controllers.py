"""A synchronous stand-in for kube-controller-manager and the kubelet.

The fake server runs `Controllers.reconcile()` after every successful write, so a
test sees the effect of a rollout restart (new ReplicaSet, new pods, updated status)
in the very next GET, with no polling. It reproduces what remediation code depends
on: ReplicaSet revision numbering (including the re-numbering that makes `rollout
undo` work), pod replacement, cascading deletion, and rollout status fields.

With `instant=False` ("manual" rollouts) new pods start Pending, old ReplicaSets
keep their pods and workload status is frozen until `complete()`, so verification
code can be tested against a rollout that never finishes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from remediator.testing._objects import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    NODES,
    REVISION,
    REVISION_HISTORY,
    apply_defaults,
    is_controlled_by,
    is_ready,
    new_pod,
    owner_reference,
    pod_status,
    revision_of,
    template_hash,
    templates_equal,
)
from remediator.testing._store import Obj, Store

_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
"""Deployment annotations the controller does not copy onto its ReplicaSets (`skipCopyAnnotation`)."""


def _drop_zero(status: dict[str, Any], *keep: str) -> dict[str, Any]:
    """Go's `omitempty` on int32 status fields: zero counts are absent, not 0."""
    return {k: v for k, v in status.items() if v != 0 or k in keep}


def _percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        scaled = total * int(value[:-1]) / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value or 0)


_INERT_KINDS = frozenset({"Event"})


class Controllers:
    def __init__(self, store: Store, *, instant: bool) -> None:
        self.store = store
        self.instant = instant
        self._starting: set[str] = set()
        """uids of pods this fake started as Pending; `complete()` makes them Running."""

    # --- entry points ----------------------------------------------------------------------------

    def reconcile(self, namespace: str | None = None, *, kind: str | None = None) -> None:
        """After a write: controllers relate objects within one namespace only, and nothing reacts
        to Events, so a write settles its own namespace (O(namespace), not O(cluster))."""
        if kind in _INERT_KINDS:
            return
        self._run(final=self.instant, namespace=namespace)

    def complete(self) -> None:
        for pod in self.store.items("Pod"):
            if pod["metadata"]["uid"] in self._starting:
                self._start(pod)
        self._starting.clear()
        self._run(final=True)

    def settle_deployment(self, namespace: str, name: str) -> None:
        """Bring one seeded Deployment to its finished state, even if paused or in manual mode."""
        self._sync_deployment(namespace, name, final=True, seeding=True)
        self._sync_owned_replicasets(namespace, name, final=True)
        self._deployment_status(namespace, name)

    def settle(self, kind: str, namespace: str, name: str) -> None:
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            return
        if kind == "StatefulSet":
            self._sync_statefulset(obj, final=True)
        elif kind == "DaemonSet":
            self._sync_daemonset(obj, final=True)

    def _run(self, *, final: bool, namespace: str | None = None) -> None:
        for dep in self.store.items("Deployment", namespace):
            self._sync_deployment(dep["metadata"]["namespace"], dep["metadata"]["name"], final=final)
        for rs in self.store.items("ReplicaSet", namespace):
            self._sync_replicaset(rs, final=final)
        for sts in self.store.items("StatefulSet", namespace):
            self._sync_statefulset(sts, final=final)
        for ds in self.store.items("DaemonSet", namespace):
            self._sync_daemonset(ds, final=final)
        if final:
            for dep in self.store.items("Deployment", namespace):
                self._deployment_status(dep["metadata"]["namespace"], dep["metadata"]["name"])

    # --- pods ------------------------------------------------------------------------------------

    def _ip(self) -> str:
        return f"10.244.{self.store.rng.randint(0, 255)}.{self.store.rng.randint(2, 254)}"

    def _create_pod(
        self,
        owner: Obj,
        *,
        name: str,
        final: bool,
        labels: Mapping[str, str] | None = None,
        node: str | None = None,
    ) -> None:
        phase = "Running" if final else "Pending"
        pod = new_pod(
            namespace=owner["metadata"]["namespace"],
            name=name,
            template=owner["spec"]["template"],
            owner=owner,
            labels=labels,
            node=node or self.store.rng.choice(NODES),
            phase=phase,
            at=self.store.timestamp(),
            pod_ip=self._ip(),
        )
        if owner["kind"] == "StatefulSet":
            pod["spec"]["hostname"] = name
            pod["spec"]["subdomain"] = owner["spec"].get("serviceName", "")
        self.store.insert("Pod", pod)
        if phase == "Pending":
            self._starting.add(pod["metadata"]["uid"])

    def track_starting(self, pod: Obj) -> None:
        """A pod created through the API in manual mode: Pending until `complete()`."""
        self._starting.add(pod["metadata"]["uid"])

    def _start(self, pod: Obj) -> None:
        started = copy.deepcopy(pod)
        host_ip = (pod.get("status") or {}).get("hostIP", "10.0.0.9")
        started["status"] = pod_status(
            started["spec"], phase="Running", at=self.store.timestamp(), pod_ip=self._ip(), host_ip=host_ip
        )
        self.store.save("Pod", started)

    def _owned_pods(self, owner: Obj) -> list[Obj]:
        return [
            p for p in self.store.items("Pod", owner["metadata"]["namespace"]) if is_controlled_by(p, owner)
        ]

    def _remove_pod(self, pod: Obj) -> None:
        self.store.remove("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        self._starting.discard(pod["metadata"]["uid"])

    # --- Deployment ------------------------------------------------------------------------------

    def _owned_replicasets(self, dep: Obj) -> list[Obj]:
        return [
            rs
            for rs in self.store.items("ReplicaSet", dep["metadata"]["namespace"])
            if is_controlled_by(rs, dep)
        ]

    def _sync_owned_replicasets(self, namespace: str, name: str, *, final: bool) -> None:
        dep = self.store.get("Deployment", namespace, name)
        if dep is not None:
            for rs in self._owned_replicasets(dep):
                self._sync_replicaset(rs, final=final)

    def _sync_deployment(self, namespace: str, name: str, *, final: bool, seeding: bool = False) -> None:
        dep = self.store.get("Deployment", namespace, name)
        if dep is None:
            return
        spec = dep["spec"]
        paused = bool(spec.get("paused")) and not seeding
        rses = self._owned_replicasets(dep)
        new_rs = next((rs for rs in rses if templates_equal(rs["spec"]["template"], spec["template"])), None)
        max_old = max((revision_of(rs) for rs in rses if rs is not new_rs), default=0)
        if new_rs is None and not paused:
            new_rs = self.create_replicaset(dep, revision=max_old + 1)
        elif new_rs is not None and not paused and revision_of(new_rs) <= max_old:
            # The template went back to an older ReplicaSet (rollout undo): it becomes the newest revision.
            bumped = copy.deepcopy(new_rs)
            annotations = bumped["metadata"].setdefault("annotations", {})
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, str(revision_of(new_rs))])
            annotations[REVISION] = str(max_old + 1)
            self.store.save("ReplicaSet", bumped)
            new_rs = bumped
        active = new_rs or max(rses, key=revision_of, default=None)
        if active is None:
            return
        self._scale_replicaset(active, dep, spec.get("replicas", 1))
        if final and not paused:
            for rs in rses:
                if (
                    rs["metadata"]["name"] != active["metadata"]["name"]
                    and rs["spec"].get("replicas", 1) != 0
                ):
                    self._scale_replicaset(rs, None, 0)
            self._clean_history(dep, keep=active["metadata"]["name"])
        if new_rs is not None:
            updated = copy.deepcopy(dep)
            updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision_of(new_rs))
            self.store.save("Deployment", updated)

    def _max_surge(self, dep: Obj, replicas: int) -> int:
        rolling = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        return _percent(rolling.get("maxSurge", 0), replicas, round_up=True)

    def create_replicaset(self, dep: Obj, *, revision: int, template: Obj | None = None) -> Obj:
        """A ReplicaSet (scaled to 0) for `template`, default the Deployment's, at `revision`."""
        namespace, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        template = copy.deepcopy(template if template is not None else dep["spec"]["template"])
        pod_hash = template_hash(template)
        template["metadata"].setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        rs_name = f"{name}-{pod_hash}"
        if self.store.get("ReplicaSet", namespace, rs_name) is not None:
            rs_name = self.store.unique_name("ReplicaSet", namespace, f"{rs_name}-")
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [owner_reference(dep)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        }
        apply_defaults("ReplicaSet", rs)
        return self.store.insert("ReplicaSet", rs)

    def _scale_replicaset(self, rs: Obj, dep: Obj | None, replicas: int) -> None:
        current = self.store.get("ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"])
        if current is None:
            return
        scaled = copy.deepcopy(current)
        scaled["spec"]["replicas"] = replicas
        if dep is not None:
            annotations = scaled["metadata"].setdefault("annotations", {})
            for key, value in (dep["metadata"].get("annotations") or {}).items():
                if key not in _NOT_COPIED:
                    annotations[key] = value
            annotations[DESIRED_REPLICAS] = str(replicas)
            annotations[MAX_REPLICAS] = str(replicas + self._max_surge(dep, replicas))
        self.store.save("ReplicaSet", scaled)

    def _clean_history(self, dep: Obj, *, keep: str) -> None:
        limit = dep["spec"].get("revisionHistoryLimit", 10)
        idle = [
            rs
            for rs in self._owned_replicasets(dep)
            if rs["metadata"]["name"] != keep
            and rs["spec"].get("replicas", 1) == 0
            and not self._owned_pods(rs)
        ]
        for rs in sorted(idle, key=revision_of)[: max(len(idle) - limit, 0)]:
            self.store.remove("ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _deployment_status(self, namespace: str, name: str) -> None:
        dep = self.store.get("Deployment", namespace, name)
        if dep is None:
            return
        spec = dep["spec"]
        want = spec.get("replicas", 1)
        rses = self._owned_replicasets(dep)
        new_rs = next((rs for rs in rses if templates_equal(rs["spec"]["template"], spec["template"])), None)

        def total(field: str, of: list[Obj]) -> int:
            return sum((rs.get("status") or {}).get(field, 0) for rs in of)

        replicas = total("replicas", rses)
        updated = total("replicas", [new_rs]) if new_rs else 0
        available = total("availableReplicas", rses)
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        min_available = want - _percent(rolling.get("maxUnavailable", 0), want, round_up=False)
        now = self.store.timestamp()
        old = {c.get("type"): c for c in (dep.get("status") or {}).get("conditions") or []}

        def condition(kind: str, status: str, reason: str, message: str) -> Obj:
            prev = old.get(kind) or {}
            same_status = prev.get("status") == status
            same_all = same_status and prev.get("reason") == reason and prev.get("message") == message
            return {
                "type": kind,
                "status": status,
                "lastUpdateTime": prev["lastUpdateTime"] if same_all else now,
                "lastTransitionTime": prev["lastTransitionTime"] if same_status else now,
                "reason": reason,
                "message": message,
            }

        if available >= min_available:
            avail = condition(
                "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
            )
        else:
            avail = condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        if spec.get("paused"):
            progress = condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif new_rs is not None and updated == replicas == want and available == want:
            progress = condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        else:
            progress = condition(
                "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
            )
        status = _drop_zero(
            {
                "observedGeneration": dep["metadata"].get("generation", 1),
                "replicas": replicas,
                "updatedReplicas": updated,
                "readyReplicas": total("readyReplicas", rses),
                "availableReplicas": available,
                "unavailableReplicas": max(want - available, 0),
            }
        )
        status["conditions"] = [avail, progress]
        updated_dep = copy.deepcopy(dep)
        updated_dep["status"] = status
        self.store.save("Deployment", updated_dep)

    # --- ReplicaSet ------------------------------------------------------------------------------

    def _sync_replicaset(self, rs: Obj, *, final: bool) -> None:
        rs = self.store.get("ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs
        want = rs["spec"].get("replicas", 1)
        pods = self._owned_pods(rs)
        if len(pods) > want:
            newest_first = sorted(
                pods, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"])
            )
            newest_first.reverse()
            for pod in sorted(newest_first, key=is_ready)[: len(pods) - want]:
                self._remove_pod(pod)
        for _ in range(want - len(pods)):
            name = self.store.unique_name("Pod", rs["metadata"]["namespace"], f"{rs['metadata']['name']}-")
            self._create_pod(rs, name=name, final=final)
        pods = self._owned_pods(rs)
        ready = sum(1 for p in pods if is_ready(p))
        status = _drop_zero(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"].get("generation", 1),
            },
            "replicas",
        )
        updated = copy.deepcopy(rs)
        updated["status"] = status
        self.store.save("ReplicaSet", updated)

    # --- StatefulSet -----------------------------------------------------------------------------

    def _sync_statefulset(self, sts: Obj, *, final: bool) -> None:
        sts = self.store.get("StatefulSet", sts["metadata"]["namespace"], sts["metadata"]["name"]) or sts
        name = sts["metadata"]["name"]
        revision = f"{name}-{template_hash(sts['spec']['template'])}"
        want = sts["spec"].get("replicas", 1)
        pods = {p["metadata"]["name"]: p for p in self._owned_pods(sts)}
        for ordinal in range(want):
            pod_name = f"{name}-{ordinal}"
            pod = pods.pop(pod_name, None)
            if (
                pod is not None
                and final
                and pod["metadata"]["labels"].get("controller-revision-hash") != revision
            ):
                self._remove_pod(pod)
                pod = None
            if pod is None and self.store.get("Pod", sts["metadata"]["namespace"], pod_name) is None:
                labels = {
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": pod_name,
                    "apps.kubernetes.io/pod-index": str(ordinal),
                }
                self._create_pod(sts, name=pod_name, final=final, labels=labels)
        for pod in pods.values():  # ordinals at or above spec.replicas
            self._remove_pod(pod)
        if not final:
            return
        owned = self._owned_pods(sts)
        ready = sum(1 for p in owned if is_ready(p))
        current = sum(1 for p in owned if p["metadata"]["labels"].get("controller-revision-hash") == revision)
        status = _drop_zero(
            {
                "observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(owned),
                "readyReplicas": ready,
                "currentReplicas": current,
                "updatedReplicas": current,
                "availableReplicas": ready,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
            "replicas",
            "availableReplicas",
            "collisionCount",  # a pointer in Go: 0 is sent, not omitted
        )
        updated = copy.deepcopy(sts)
        updated["status"] = status
        self.store.save("StatefulSet", updated)

    # --- DaemonSet -------------------------------------------------------------------------------

    def _sync_daemonset(self, ds: Obj, *, final: bool) -> None:
        ds = self.store.get("DaemonSet", ds["metadata"]["namespace"], ds["metadata"]["name"]) or ds
        revision = template_hash(ds["spec"]["template"])
        labels = {
            "controller-revision-hash": revision,
            "pod-template-generation": str(ds["metadata"].get("generation", 1)),
        }
        by_node: dict[str, Obj] = {}
        for pod in self._owned_pods(ds):
            node = pod["spec"].get("nodeName", "")
            stale = final and pod["metadata"]["labels"].get("controller-revision-hash") != revision
            if node not in NODES or node in by_node or stale:
                self._remove_pod(pod)
            else:
                by_node[node] = pod
        for node in NODES:
            if node not in by_node:
                name = self.store.unique_name(
                    "Pod", ds["metadata"]["namespace"], f"{ds['metadata']['name']}-"
                )
                self._create_pod(ds, name=name, final=final, labels=labels, node=node)
        if not final:
            return
        owned = self._owned_pods(ds)
        ready = sum(1 for p in owned if is_ready(p))
        updated_count = sum(
            1 for p in owned if p["metadata"]["labels"].get("controller-revision-hash") == revision
        )
        status = _drop_zero(
            {
                "currentNumberScheduled": len(owned),
                "numberMisscheduled": 0,
                "desiredNumberScheduled": len(NODES),
                "numberReady": ready,
                "observedGeneration": ds["metadata"].get("generation", 1),
                "updatedNumberScheduled": updated_count,
                "numberAvailable": ready,
                "numberUnavailable": len(NODES) - ready,
            },
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
        )
        updated = copy.deepcopy(ds)
        updated["status"] = status
        self.store.save("DaemonSet", updated)

    # --- garbage collection ----------------------------------------------------------------------

    def delete(self, kind: str, namespace: str, name: str, *, orphan: bool = False) -> Obj | None:
        """Delete an object and, like the garbage collector, its dependents (or orphan them)."""
        removed = self.store.remove(kind, namespace, name)
        if removed is None:
            return None
        if kind == "Pod":
            self._starting.discard(removed["metadata"]["uid"])
        uid = removed["metadata"]["uid"]
        for dep_kind, obj in list(self.store.all_items()):
            meta = obj["metadata"]
            if kind == "Namespace" and meta.get("namespace") == name:
                self.store.remove(dep_kind, name, meta["name"])
                continue
            refs = meta.get("ownerReferences") or []
            if not any(ref.get("uid") == uid for ref in refs):
                continue
            if orphan:
                freed = copy.deepcopy(obj)
                freed["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid] or None
                if freed["metadata"]["ownerReferences"] is None:
                    del freed["metadata"]["ownerReferences"]
                self.store.save(dep_kind, freed)
            else:
                self.delete(dep_kind, meta.get("namespace", ""), meta["name"])
        return removed
