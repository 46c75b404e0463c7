"""Pure helpers for the Kubernetes actions: diffs, kubectl's rules, and the plan without a cluster.

`actions/kube.py` reads objects as plain JSON (camelCase dicts, exactly as the API server sent them) and
hands them to these functions to compute diffs, scale counts, rollout status and pod order. Nothing here
talks to the cluster or imports kubernetes_asyncio, so every rule can be tested with literals.

Diff paths are dotted, with brackets for two things a dot cannot express: items of a list merged by `name`
(`spec.template.spec.containers[app].env[RATE_LIMIT_MODE]`) and keys of user maps such as annotations
and labels, whose keys contain dots and slashes (`metadata.annotations[kubectl.kubernetes.io/restartedAt]`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from remediator.durations import format_duration
from remediator.errors import PermanentActionError
from remediator.model import ActionResult, ActionSpec, Change, Target, WorkloadKind

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ROLLED_BACK_AT = "remediator.io/rolled-back-at"
"""Deployment annotation stamped by rollout_undo: when the rollback rolled out."""
"""The pod-template annotation `kubectl rollout restart` stamps; any template change rolls the pods."""
REVISION = "deployment.kubernetes.io/revision"
DISABLED = "remediator.io/disabled"
"""Label or annotation (value "true") on a workload or namespace that opts it out of remediation."""


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    """Whether the workload's latest spec is fully rolled out; `reason` says what is still missing."""

    complete: bool
    reason: str


POD_TEMPLATE_HASH = "pod-template-hash"
"""Label the Deployment controller adds to each ReplicaSet's template; never part of the user's template."""

ROLLBACK_SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""kubectl's `annotationsToSkip` (rollback.go): the Deployment keeps its own values of these on undo."""

_MAP_FIELDS = frozenset({"annotations", "labels", "nodeSelector", "matchLabels"})
"""Fields whose keys are user-chosen (and may contain '.' or '/'): rendered as `field[key]`."""

_ABSENT: Any = object()


def diff(before: Any, after: Any, path: str) -> list[Change]:
    """The leaf-level changes that turn `before` into `after`, under `path`.

    Dicts recurse; lists whose items all carry a unique `name` (containers, env, volumes) are matched by
    name, like a strategic merge patch; any other list is compared whole. A missing field is `None`.
    """
    out: list[Change] = []
    _diff_into(out, before, after, path)
    return out


def _diff_into(out: list[Change], before: Any, after: Any, path: str) -> None:
    if before is _ABSENT:
        before = None
    if after is _ABSENT:
        after = None
    if before == after:
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        brackets = _last_field(path) in _MAP_FIELDS
        for key in _ordered_keys(before, after):
            child = f"{path}[{key}]" if brackets else f"{path}.{key}"
            _diff_into(out, before.get(key, _ABSENT), after.get(key, _ABSENT), child)
        return
    if _named_list(before) and _named_list(after):
        old = {item["name"]: item for item in before}
        new = {item["name"]: item for item in after}
        for name in _ordered_keys(old, new):
            _diff_into(out, old.get(name, _ABSENT), new.get(name, _ABSENT), f"{path}[{name}]")
        return
    out.append(Change(path=path, before=before, after=after))


def _ordered_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Keys of `a` in their order, then the keys only `b` has: diffs read in the object's own order."""
    return [*a, *(k for k in b if k not in a)]


def _named_list(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    if not all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in value):
        return False
    return len({item["name"] for item in value}) == len(value)


def _last_field(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pod template without the `pod-template-hash` label (kubectl's `EqualIgnoreHash`)."""
    out = copy.deepcopy(dict(template))
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return out


def rollback_annotations(
    deployment_annotations: Mapping[str, str], rs_annotations: Mapping[str, str]
) -> dict[str, str]:
    """The Deployment's annotations after an undo, exactly as kubectl builds them.

    The skip-list keeps the Deployment's current values (its revision bookkeeping); everything else comes
    from the ReplicaSet, which recorded the Deployment's annotations as of that revision.
    """
    out = {k: v for k, v in deployment_annotations.items() if k in ROLLBACK_SKIPPED_ANNOTATIONS}
    out.update({k: v for k, v in rs_annotations.items() if k not in ROLLBACK_SKIPPED_ANNOTATIONS})
    return out


def images(template: Mapping[str, Any]) -> str:
    """The containers' images of a pod template, for summaries: `app:v2` or `app:v2, proxy:1.4`."""
    containers = ((template.get("spec") or {}).get("containers")) or []
    return ", ".join(str(c.get("image", "?")) for c in containers) or "no containers"


def static_plan(spec: ActionSpec, target: Target, *, now: datetime | None = None) -> ActionResult:
    """What an action would do when no cluster is reachable: current values unknown (`before=None`).

    `now` fills in the restart timestamp when known; otherwise it reads "<now>".
    """
    p = spec.params
    key = target.key
    changes: tuple[Change, ...]
    if spec.kind == "rollout_restart":
        stamp = rfc3339(now) if now is not None else "<now>"
        changes = (
            Change(path=f"spec.template.metadata.annotations[{RESTARTED_AT}]", before=None, after=stamp),
        )
        summary = f"would restart {key}"
    elif spec.kind == "rollout_undo":
        to = f"revision {p['to_revision']}" if p.get("to_revision") else "the previous revision"
        changes = (Change(path="spec.template", before=None, after=to),)
        within = p.get("only_if_rolled_out_within")
        cond = f" if rolled out within {format_duration(float(within))}" if within is not None else ""
        summary = f"would roll back {key} to {to}{cond}"
    elif spec.kind == "scale":
        bounds = ", ".join(f"{n} {p[n]}" for n in ("min", "max") if p.get(n) is not None)
        bounds = f" ({bounds})" if bounds else ""
        if p.get("to") is not None:
            after: Any = p["to"]
        elif p.get("by") is not None:
            after = f"current {int(p['by']):+d}"
        else:
            after = f"current x {p.get('factor')}"
        changes = (Change(path="spec.replicas", before=None, after=after),)
        summary = f"would scale {key} to {after}{bounds}"
    elif spec.kind == "set_env":
        container = p.get("container") or "<first>"
        changes = (
            Change(
                path=f"spec.template.spec.containers[{container}].env[{p.get('name')}]",
                before=None,
                after=None if p.get("value") is None else str(p.get("value")),
            ),
        )
        summary = f"would set {p.get('name')}={p.get('value')!r} on {key} (container {container})"
    elif spec.kind == "delete_pod":
        if p.get("pod"):
            changes = (Change(path=f"pods[{p['pod']}]", before=None, after="deleted"),)
            summary = f"would delete pod {p['pod']} in {target.namespace}"
        else:
            selector = p.get("selector") or f"<selector of {key}>"
            limit = p.get("max") or 1
            changes = (Change(path=f"pods[{selector}]", before=None, after=f"up to {limit} deleted"),)
            summary = f"would delete up to {limit} pods in {target.namespace} (selector {selector})"
    else:
        raise PermanentActionError(f"unknown Kubernetes action {spec.kind!r}")
    return ActionResult(
        kind=spec.kind,
        target=target,
        changes=changes,
        summary=f"{summary} (cluster state unknown)",
        applied=False,
    )


def scale_target(
    current: int,
    *,
    to: int | None,
    by: int | None,
    factor: float | None,
    lo: int | None,
    hi: int | None,
    allow_zero: bool,
) -> int:
    """The replica count a scale action asks for, clamped to [lo, hi]; 0 only with `allow_zero`."""
    if to is not None:
        desired = to
    elif by is not None:
        desired = current + by
    elif factor is not None:
        # Round first: 10 * 1.1 is 11.000000000000002 in floating point, which must not ceil to 12.
        desired = math.ceil(round(current * factor, 9))
    else:
        raise PermanentActionError("scale needs one of 'to', 'by' or 'factor'")
    desired = max(desired, 0)
    if lo is not None:
        desired = max(desired, lo)
    if hi is not None:
        desired = min(desired, hi)
    if desired == 0 and not allow_zero:
        desired = max(1, lo or 0)
    return desired


def rollout_status_of(kind: WorkloadKind, obj: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's rollout status viewers (polymorphichelpers/rollout_status.go) on a workload's JSON."""
    generation = int(get(obj, "metadata", "generation") or 0)
    status: Mapping[str, Any] = obj.get("status") or {}
    observed = int(status.get("observedGeneration") or 0)
    if observed < generation or (kind == "StatefulSet" and observed == 0):
        return RolloutStatus(
            False, f"spec update not observed yet (generation {generation}, observed {observed})"
        )

    def n(field: str) -> int:
        return int(status.get(field) or 0)

    if kind == "Deployment":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return RolloutStatus(False, "progress deadline exceeded")
        spec_replicas = get(obj, "spec", "replicas")
        wanted = 1 if spec_replicas is None else int(spec_replicas)
        if n("updatedReplicas") < wanted:
            return RolloutStatus(False, f"{n('updatedReplicas')} of {wanted} updated replicas")
        if n("replicas") > n("updatedReplicas"):
            return RolloutStatus(
                False, f"{n('replicas') - n('updatedReplicas')} old replicas pending termination"
            )
        if n("availableReplicas") < n("updatedReplicas"):
            return RolloutStatus(
                False, f"{n('availableReplicas')} of {n('updatedReplicas')} updated replicas available"
            )
        return RolloutStatus(True, f"rolled out: {n('updatedReplicas')} replicas updated and available")
    if kind == "StatefulSet":
        if get(obj, "spec", "updateStrategy", "type") == "OnDelete":
            return RolloutStatus(False, "OnDelete update strategy: pods update only when deleted")
        spec_replicas = get(obj, "spec", "replicas")
        wanted = 1 if spec_replicas is None else int(spec_replicas)
        if n("readyReplicas") < wanted:
            return RolloutStatus(False, f"{n('readyReplicas')} of {wanted} pods ready")
        if status.get("updateRevision") != status.get("currentRevision"):
            return RolloutStatus(
                False, f"{n('updatedReplicas')} of {wanted} pods at revision {status.get('updateRevision')}"
            )
        return RolloutStatus(
            True, f"rolled out: {n('readyReplicas')} pods ready at {status.get('currentRevision')}"
        )
    if get(obj, "spec", "updateStrategy", "type") == "OnDelete":
        return RolloutStatus(False, "OnDelete update strategy: pods update only when deleted")
    desired = n("desiredNumberScheduled")
    if n("updatedNumberScheduled") < desired:
        return RolloutStatus(False, f"{n('updatedNumberScheduled')} of {desired} updated pods scheduled")
    if n("numberAvailable") < desired:
        return RolloutStatus(False, f"{n('numberAvailable')} of {desired} updated pods available")
    return RolloutStatus(True, f"rolled out: {desired} pods updated and available")


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as the `labelSelector` query string (metav1.LabelSelectorAsSelector)."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), sorted(expr.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise PermanentActionError(f"label selector operator {operator!r} is not supported")
    return ",".join(parts)


def opt_out_reason(obj: Mapping[str, Any], what: str) -> str | None:
    for field in ("labels", "annotations"):
        value = (get(obj, "metadata", field) or {}).get(DISABLED)
        if isinstance(value, str) and value.strip().lower() == "true":
            return f"{what} has {field[:-1]} {DISABLED}=true"
    return None


def deletion_order(pod: Mapping[str, Any]) -> tuple[bool, str, str]:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in get(pod, "status", "conditions") or []
    )
    ready = ready and get(pod, "status", "phase") == "Running"
    # RFC 3339 timestamps in UTC sort as strings.
    return ready, str(get(pod, "metadata", "creationTimestamp") or ""), str(get(pod, "metadata", "name"))


def revision(rs: Mapping[str, Any]) -> int:
    try:
        return int((get(rs, "metadata", "annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    for ref in get(obj, "metadata", "ownerReferences") or []:
        if ref.get("controller"):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


def uid_of(obj: Mapping[str, Any]) -> str | None:
    uid = get(obj, "metadata", "uid")
    return str(uid) if uid else None


def get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def opt_int(params: Mapping[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a whole number") from None
    if number != int(number):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a whole number")
    return int(number)


def opt_float(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a number") from None


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(dt: datetime) -> str:
    """A MicroTime; timezone-aware, since the API server rejects naive timestamps."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
