"""A Deployment's rollout history: the ReplicaSets it controls, each carrying a revision.

The history is only current once the Deployment controller has observed the latest spec:
right after a deploy, until `status.observedGeneration` reaches `metadata.generation`, the
new template has no ReplicaSet yet, so "the previous revision" would be the one before the
last good one, and "the newest rollout" an old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.actions.kube.fields import get, uid_of
from remediator.actions.kube.kubectl import controller_uid
from remediator.errors import TransientActionError
from remediator.kube import KubeClient
from remediator.kubenames import label_selector
from remediator.model import Target


async def owned_replica_sets(
    kube: KubeClient, target: Target, dep: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """ReplicaSets matching the Deployment's selector and controlled by it (metav1.IsControlledBy)."""
    uid = uid_of(dep)
    selector = label_selector(get(dep, "spec", "selector") or {})
    items = await kube.list_replica_sets(target.namespace, selector)
    return [rs for rs in items if uid is not None and controller_uid(rs) == uid]


HISTORY_CATCH_UP_S = 1.0
"""How long to wait before looking again: a controller pass, well under a second on a real cluster."""


def require_current_history(dep: Mapping[str, Any], target: Target) -> None:
    """Raise TransientActionError (retry shortly) while the controller has not observed the spec."""
    generation = int(get(dep, "metadata", "generation") or 0)
    observed = int(get(dep, "status", "observedGeneration") or 0)
    if observed < generation:
        raise TransientActionError(
            f"{target.key}: rollout history not current yet: the Deployment controller has not "
            f"observed generation {generation} (observed {observed})",
            retry_after_s=HISTORY_CATCH_UP_S,
        )
