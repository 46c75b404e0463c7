"""Object shapes: API defaulting, pod-template hashing, the Scale view, and workload builders.

The server applies the same defaults as the real one (restartPolicy, imagePullPolicy,
strategy, ...) on every write, because `kubectl rollout undo` decides "already at
that revision" by comparing templates after defaulting. Builders make the objects
the seeding helpers and the controllers insert.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from remediator.testing._selectors import selector_string
from remediator.testing._store import NAME_ALPHABET, Obj

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
NODES = ("fake-node-1", "fake-node-2", "fake-node-3")
"""Nodes the fake schedules onto; a DaemonSet runs one pod on each."""


# --- templates -----------------------------------------------------------------------------------


def without_hash(template: Mapping[str, Any]) -> Obj:
    t = copy.deepcopy(dict(template))
    labels = t.get("metadata", {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
        labels.pop("controller-revision-hash", None)
    return t


def templates_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """`EqualIgnoreHash`: how the deployment controller and kubectl match a template to a ReplicaSet."""
    return without_hash(a) == without_hash(b)


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable 10-character name suffix for a template, from the same alphabet as the real hash."""
    data = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    value = int.from_bytes(hashlib.sha256(data).digest()[:8], "big")
    chars = []
    for _ in range(10):
        value, digit = divmod(value, len(NAME_ALPHABET))
        chars.append(NAME_ALPHABET[digit])
    return "".join(chars)


def pod_template(
    labels: Mapping[str, str],
    *,
    containers: Sequence[str],
    image: str,
    env: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    meta: Obj = {"labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    specs: list[Obj] = []
    for name in containers:
        container: Obj = {"name": name, "image": image}
        if env:
            container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        specs.append(container)
    spec: Obj = {"containers": specs}
    default_pod_spec(spec)
    return {"metadata": meta, "spec": spec}


# --- defaulting ----------------------------------------------------------------------------------


def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if not isinstance(container, dict):
            continue
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        if isinstance(container.get("image"), str):
            container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def apply_defaults(kind: str, obj: Obj) -> None:
    """What the real server's defaulting functions fill in, for the kinds remediations touch."""
    if kind == "Pod":
        default_pod_spec(obj.setdefault("spec", {}))
    elif kind == "Namespace":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif kind == "Job":
        _default_job(obj)
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        spec = obj.setdefault("spec", {})
        if kind != "DaemonSet":
            spec.setdefault("replicas", 1)
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {})
        default_pod_spec(template.setdefault("spec", {}))
        if kind == "Deployment":
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy["type"] = "RollingUpdate"
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        elif kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault(
                "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
            )
        elif kind == "DaemonSet":
            spec.setdefault(
                "updateStrategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            )
            spec.setdefault("revisionHistoryLimit", 10)
        obj.setdefault("status", {})


def _default_job(job: Obj) -> None:
    """`SetDefaults_Job` (batch/v1), then the pod template's own defaults."""
    spec = job.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimitPerIndex") is None:
        spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault(
        "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    )
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    default_pod_spec(template.setdefault("spec", {}))
    labels = template["metadata"].get("labels")
    if labels and not job["metadata"].get("labels"):
        job["metadata"]["labels"] = dict(labels)


def scale_view(obj: Mapping[str, Any]) -> Obj:
    """The `autoscaling/v1` Scale subresource of a Deployment, StatefulSet or ReplicaSet."""
    meta = obj["metadata"]
    replicas = obj["spec"].get("replicas", 1)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": replicas} if replicas else {},  # omitempty in autoscaling/v1 ScaleSpec
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selector_string(obj["spec"].get("selector")),
        },
    }


# --- ownership -----------------------------------------------------------------------------------


def owner_reference(owner: Mapping[str, Any]) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = owner["metadata"]["uid"]
    return any(
        ref.get("controller") and ref.get("uid") == uid
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def revision_of(rs: Mapping[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


# --- seeded workloads ----------------------------------------------------------------------------


def workload(
    kind: str,
    namespace: str,
    name: str,
    *,
    template: Obj,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None,
    replicas: int | None,
) -> Obj:
    selector = {"matchLabels": {"app": template["metadata"]["labels"]["app"]}}
    meta: Obj = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    spec: Obj = {"selector": selector, "template": template}
    if replicas is not None:
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    obj: Obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
    apply_defaults(kind, obj)
    return obj
