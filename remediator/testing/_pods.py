"""Pod shapes as the kubelet reports them, and the predicates controllers count pods by.

Remediation code reads pods to pick victims, count ready replicas and capture evidence,
so a pod's status must look like a real one in every state it passes through: created
(Pending, ContainerCreating), running and ready, running but never ready, crash-looping
(phase still Running, container waiting in CrashLoopBackOff), finished (Succeeded or
Failed, containers terminated) and terminating (deletionTimestamp set, still listed).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from remediator.testing._objects import NODES, default_pod_spec, owner_reference
from remediator.testing._store import Obj

PodState = Literal["pending", "ready", "unready", "crashloop", "succeeded", "failed"]
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


def _condition(kind: str, ok: bool, at: str, reason: str | None = None, message: str | None = None) -> Obj:
    cond: Obj = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": at,
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _container_id(pod_ip: str, name: str, restarts: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_ip}{name}{restarts}".encode()).hexdigest()


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"{image.split(':')[0]}@sha256:{digest}"


def pod_status(
    spec: Mapping[str, Any],
    *,
    state: PodState,
    at: str,
    pod_ip: str,
    host_ip: str,
    started_at: str | None = None,
    restarts: int = 0,
    exit_code: int | None = None,
    back_off_s: int = 10,
    pod_ref: str = "",
) -> Obj:
    """The status a kubelet reports for a pod in `state`, at time `at` (RFC 3339).

    `started_at` is when the containers started (default `at`); `restarts` the restart count
    (crash loops); `exit_code` the exit of finished containers; `pod_ref` is `name_namespace(uid)`
    as the kubelet names the pod in CrashLoopBackOff messages.
    """
    started_at = started_at or at
    phase = {
        "pending": "Pending",
        "succeeded": "Succeeded",
        "failed": "Failed",
    }.get(state, "Running")
    ready = state == "ready"
    names = [c.get("name", "") for c in spec.get("containers") or []]
    statuses: list[Obj] = []
    for c in spec.get("containers") or []:
        name, image = c.get("name", ""), c.get("image", "")
        status: Obj = {
            "name": name,
            "image": image,
            "imageID": "" if state == "pending" else _image_id(image),
            "ready": ready,
            "restartCount": restarts,
            "started": state in ("ready", "unready"),
        }
        if state != "pending":
            status["containerID"] = _container_id(pod_ip, name, restarts)
        if state in ("ready", "unready"):
            status["state"] = {"running": {"startedAt": started_at}}
        elif state == "crashloop":
            status["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {back_off_s}s restarting failed container={name} pod={pod_ref}",
                }
            }
            status["lastState"] = {
                "terminated": {
                    "exitCode": exit_code if exit_code is not None else 1,
                    "reason": "Error",
                    "startedAt": started_at,
                    "finishedAt": at,
                    "containerID": _container_id(pod_ip, name, restarts - 1),
                }
            }
        elif state in ("succeeded", "failed"):
            code = exit_code if exit_code is not None else (0 if state == "succeeded" else 1)
            status["state"] = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": started_at,
                    "finishedAt": at,
                    "containerID": status["containerID"],
                }
            }
        else:
            status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        statuses.append(status)
    if phase in TERMINAL_PHASES:
        reason: str | None = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        message = None
    else:
        reason = None if ready else "ContainersNotReady"
        message = None if ready else f"containers with unready status: [{' '.join(names)}]"
    out: Obj = {
        "phase": phase,
        "conditions": [
            _condition("PodReadyToStartContainers", state != "pending", at),
            _condition("Initialized", True, at),
            _condition("Ready", ready, at, reason, message),
            _condition("ContainersReady", ready, at, reason, message),
            _condition("PodScheduled", True, at),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": at if state == "pending" else started_at,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    }
    if state != "pending":
        out["podIP"] = pod_ip
        out["podIPs"] = [{"ip": pod_ip}]
    return out


def host_ip_of(node: str) -> str:
    return f"10.0.0.{NODES.index(node) + 1 if node in NODES else 9}"


def new_pod(
    *,
    namespace: str,
    name: str,
    template: Mapping[str, Any],
    owner: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None = None,
    node: str,
    state: PodState,
    at: str,
    pod_ip: str,
) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "labels": {**(template.get("metadata", {}).get("labels") or {}), **(labels or {})},
    }
    annotations = template.get("metadata", {}).get("annotations")
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    spec = copy.deepcopy(dict(template.get("spec") or {}))
    default_pod_spec(spec)
    spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": pod_status(spec, state=state, at=at, pod_ip=pod_ip, host_ip=host_ip_of(node)),
    }


# --- predicates ----------------------------------------------------------------------------------


def is_ready(pod: Mapping[str, Any]) -> bool:
    """`podutil.IsPodReady`: the Ready condition is True (a terminating pod can still be ready)."""
    status = pod.get("status") or {}
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def is_active(pod: Mapping[str, Any]) -> bool:
    """`controller.FilterActivePods`: neither finished nor being deleted. Controllers replace the rest."""
    return not is_terminal(pod) and not is_terminating(pod)


def is_available(pod: Mapping[str, Any]) -> bool:
    """Ready and not terminating; minReadySeconds is 0 in the fake, so ready is available."""
    return is_ready(pod) and not is_terminating(pod)


def creation_order(pod: Mapping[str, Any]) -> tuple[str, str]:
    return pod["metadata"]["creationTimestamp"], pod["metadata"]["name"]
