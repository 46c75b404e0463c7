"""kubectl's rules on workload JSON: revisions, owners, rollback annotations, scale bounds, pod order.

Pure functions on objects as the API server sent them (camelCase dicts), so every rule can be tested
with literals; the actions (restart.py, undo.py, scale.py, pods.py) apply them to fresh reads.
The opt-out label is remediator's own rule, read here with the rest.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from remediator.actions.kube.fields import get
from remediator.errors import PermanentActionError

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod-template annotation `kubectl rollout restart` stamps; any template change rolls the pods."""
ROLLED_BACK_AT = "remediator.io/rolled-back-at"
"""Deployment annotation stamped by rollout_undo: when the rollback rolled out."""
REVISION = "deployment.kubernetes.io/revision"
DISABLED = "remediator.io/disabled"
"""Label or annotation (value "true") on a workload or namespace that opts it out of remediation."""

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
