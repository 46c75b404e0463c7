"""What changed in the cluster, shown as `kubectl diff` shows it: a unified diff of the objects' YAML.

Read from the fake API server itself, not from what remediator says it did, so the demo shows
the cluster's side of every action. Status and server bookkeeping (resourceVersion, uid,
managedFields, timestamps) are left out: they change on every write and hide the change that matters.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from remediator.testing import FakeKubeServer

_KEPT_METADATA = ("name", "namespace", "labels", "annotations")


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    deployments: Mapping[str, str]
    """name -> the Deployment's YAML (metadata that matters and spec)."""
    pods: Mapping[str, str]
    """live pod name -> the Deployment it belongs to (its `app` label)."""


def _yaml(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    # Sorted keys: an update may write the same fields in another order, which is no change.
    shown = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in _KEPT_METADATA if meta.get(k)},
        "spec": obj.get("spec") or {},
    }
    return yaml.safe_dump(shown, sort_keys=True, default_flow_style=False, width=200)


def snapshot(kube: FakeKubeServer, namespace: str) -> Snapshot:
    deployments = {d["metadata"]["name"]: _yaml(d) for d in kube.list("Deployment", namespace)}
    pods = {
        p["metadata"]["name"]: str((p["metadata"].get("labels") or {}).get("app", ""))
        for p in kube.list("Pod", namespace)
        if not p["metadata"].get("deletionTimestamp")
    }
    return Snapshot(deployments=deployments, pods=pods)


def diff(before: Snapshot, after: Snapshot, namespace: str) -> list[str]:
    """Unified diffs of the Deployments that changed, then pods deleted or created outside a rollout."""
    lines: list[str] = []
    changed: set[str] = set()
    for name in sorted(set(before.deployments) | set(after.deployments)):
        old, new = before.deployments.get(name, ""), after.deployments.get(name, "")
        if old == new:
            continue
        changed.add(name)
        where = f"apps.v1.Deployment.{namespace}.{name}"
        lines.extend(
            difflib.unified_diff(
                old.splitlines(),
                new.splitlines(),
                fromfile=f"live/{where}",
                tofile=f"new/{where}",
                lineterm="",
            )
        )
    # A rollout replaces pods by the dozen: the Deployment's diff says it all. A pod deleted on its
    # own (delete_pod) is the change itself.
    gone = sorted(p for p, app in before.pods.items() if p not in after.pods and app not in changed)
    born = sorted(p for p, app in after.pods.items() if p not in before.pods and app not in changed)
    lines.extend(f"pod/{p} deleted" for p in gone)
    lines.extend(f"pod/{p} created" for p in born)
    return lines
