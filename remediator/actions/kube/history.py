"""A Deployment's rollout history: the ReplicaSets it controls, each carrying a revision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.actions.kube.fields import get, uid_of
from remediator.actions.kube.kubectl import controller_uid
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
