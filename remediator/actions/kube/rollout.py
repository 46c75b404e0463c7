"""Is the rollout done? kubectl's rollout status viewers on a workload's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator.actions.kube.fields import get
from remediator.model import WorkloadKind


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    """Whether the workload's latest spec is fully rolled out; `reason` says what is still missing."""

    complete: bool
    reason: str


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
