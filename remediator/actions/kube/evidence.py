"""Evidence for the postmortem, read from the cluster: what the target looked like at a moment.

What the runbooks ask a human to gather while it is still there: the target's pods with their
phase, readiness and restart counts; the recent Kubernetes Events of the target and of its failing
pods; the last log lines of the failing pods (the previous container's, for a crash loop); and the
rollout history (revisions and images). Every part is bounded (pods, events, lines, characters)
and every text from the cluster is redacted (actions/redact.py), because it is copied into the
journal, the timeline and a Markdown postmortem. A part that cannot be read is noted, not fatal:
evidence never fails an action.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator.actions.kube.fields import get
from remediator.actions.kube.history import owned_replica_sets
from remediator.actions.kube.kubectl import revision
from remediator.actions.kube.rollout import rollout_status_of
from remediator.actions.redact import clip, last_lines, redact
from remediator.kube import KubeClient
from remediator.kubenames import label_selector
from remediator.model import Target


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceBounds:
    max_pods: int = 20
    """Pods listed with their status."""
    max_failing_pods: int = 3
    """Failing pods whose events and logs are read."""
    log_lines: int = 50
    max_events: int = 20
    log_bytes: int = 64 * 1024
    max_revisions: int = 10


async def collect(kube: KubeClient, target: Target, bounds: EvidenceBounds) -> dict[str, Any]:
    """The evidence for `target` now, as plain JSON. Never raises for a part it cannot read."""
    out: dict[str, Any] = {"target": target.key, "notes": []}
    try:
        workload = await kube.read_workload(target)
    except asyncio.CancelledError:
        raise
    except Exception as e:
        out["notes"].append(f"workload unreadable: {clip(redact(str(e)), 200)}")
        return out
    status = rollout_status_of(target.kind, workload)
    out["rollout"] = {"complete": status.complete, "detail": clip(status.reason, 200)}
    pods = await _part(
        out, "pods", kube.list_pods(target.namespace, label_selector(get(workload, "spec", "selector") or {}))
    )
    pods = pods or []
    out["pods"] = [_pod_status(p) for p in sorted(pods, key=_pod_order)[: bounds.max_pods]]
    if len(pods) > bounds.max_pods:
        out["notes"].append(f"{len(pods) - bounds.max_pods} more pods not listed")
    failing = [p for p in sorted(pods, key=_pod_order) if _failing(p)][: bounds.max_failing_pods]
    names = [target.name, *(str(get(p, "metadata", "name")) for p in failing)]
    events: list[dict[str, Any]] = []
    for name in names:
        found = await _part(
            out,
            f"events of {name}",
            kube.list_events(
                target.namespace, field_selector=f"involvedObject.name={name}", limit=bounds.max_events
            ),
        )
        events.extend(_event(e) for e in found or [])
    events.sort(key=lambda e: e["last"] or "", reverse=True)
    out["events"] = events[: bounds.max_events]
    out["logs"] = []
    for pod in failing:
        for container in _containers_to_read(pod)[:2]:
            name, previous = container
            text = await _part(
                out,
                f"log of {get(pod, 'metadata', 'name')}/{name}",
                kube.read_pod_log(
                    target.namespace,
                    str(get(pod, "metadata", "name")),
                    container=name,
                    tail_lines=bounds.log_lines,
                    limit_bytes=bounds.log_bytes,
                    previous=previous,
                ),
            )
            lines = last_lines(text, bounds.log_lines)
            if lines:
                out["logs"].append(
                    {
                        "pod": get(pod, "metadata", "name"),
                        "container": name,
                        "previous": previous,
                        "lines": lines,
                    }
                )
    if target.kind == "Deployment":
        history = await _part(out, "rollout history", owned_replica_sets(kube, target, workload))
        out["history"] = [
            {
                "revision": revision(rs),
                "images": [
                    str(c.get("image")) for c in get(rs, "spec", "template", "spec", "containers") or []
                ],
                "created": get(rs, "metadata", "creationTimestamp"),
                "replicas": int(get(rs, "status", "replicas") or 0),
            }
            for rs in sorted(history or [], key=revision, reverse=True)[: bounds.max_revisions]
        ]
    return out


async def _part(out: dict[str, Any], what: str, call: Any) -> Any:
    try:
        return await call
    except asyncio.CancelledError:
        raise
    except Exception as e:
        out["notes"].append(f"{what} unreadable: {clip(redact(str(e)), 200)}")
        return None


def _pod_status(pod: Mapping[str, Any]) -> dict[str, Any]:
    statuses = get(pod, "status", "containerStatuses") or []
    waiting = [str(get(s, "state", "waiting", "reason")) for s in statuses if get(s, "state", "waiting")]
    last = [
        str(get(s, "lastState", "terminated", "reason"))
        for s in statuses
        if get(s, "lastState", "terminated", "reason")
    ]
    return {
        "name": get(pod, "metadata", "name"),
        "phase": get(pod, "status", "phase"),
        "ready": _ready(pod),
        "restarts": sum(int(s.get("restartCount") or 0) for s in statuses),
        "waiting": waiting,
        "last_terminated": last,
        "terminating": bool(get(pod, "metadata", "deletionTimestamp")),
    }


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in get(pod, "status", "conditions") or []
    )


def _restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(s.get("restartCount") or 0) for s in get(pod, "status", "containerStatuses") or [])


def _failing(pod: Mapping[str, Any]) -> bool:
    return not _ready(pod) or _restarts(pod) > 0 or get(pod, "status", "phase") == "Failed"


def _pod_order(pod: Mapping[str, Any]) -> tuple[bool, int, str]:
    """Failing first, most restarted first, then by name."""
    return (not _failing(pod), -_restarts(pod), str(get(pod, "metadata", "name")))


def _containers_to_read(pod: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(container, previous?): the crashed instance's log when the container is waiting after a crash."""
    found: list[tuple[str, bool]] = []
    statuses = {s.get("name"): s for s in get(pod, "status", "containerStatuses") or []}
    for c in get(pod, "spec", "containers") or []:
        s = statuses.get(c.get("name")) or {}
        crashed = bool(get(s, "lastState", "terminated")) and not get(s, "state", "running")
        found.append((str(c.get("name")), crashed))
    return found


def _event(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "object": f"{get(e, 'involvedObject', 'kind')}/{get(e, 'involvedObject', 'name')}",
        "type": e.get("type"),
        "reason": clip(str(e.get("reason") or ""), 80),
        "message": clip(redact(str(e.get("message") or e.get("note") or "")), 300),
        "count": int(e.get("count") or 1),
        "last": e.get("lastTimestamp") or e.get("eventTime") or get(e, "metadata", "creationTimestamp"),
    }
