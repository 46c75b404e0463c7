"""The ReplicaSet controller: keep `spec.replicas` active pods, report what is ready.

Active means neither finished nor terminating (`FilterActivePods`), so a pod being deleted
is replaced at once while it is still listed: during a graceful deletion a ReplicaSet of
2 shows 3 pods. Surplus pods are deleted gracefully, the least useful first (unscheduled,
pending, not ready, then the newest), as `ActivePodsWithRanks` orders them.
"""

from __future__ import annotations

from remediator.testing._base import Context, drop_zero
from remediator.testing._pods import creation_order, is_active, is_available, is_ready
from remediator.testing._store import Obj


def _deletion_rank(pod: Obj) -> tuple[int, int, int]:
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod["status"].get("phase", ""), 0)
    return (1 if pod["spec"].get("nodeName") else 0, phase_rank, int(is_ready(pod)))


class ReplicaSetController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def sync(self, rs: Obj) -> None:
        store = self.ctx.store
        rs = store.get("ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs
        if rs["metadata"].get("deletionTimestamp"):
            return
        want = rs["spec"].get("replicas", 1)
        pods = self.ctx.owned("Pod", rs)
        active = [p for p in pods if is_active(p)]
        if len(active) > want:
            ranked = sorted(active, key=creation_order, reverse=True)  # among equals, the newest goes
            ranked.sort(key=_deletion_rank)
            for pod in ranked[: len(active) - want]:
                self.ctx.delete_pod(pod)
        for _ in range(want - len(active)):
            name = store.unique_name("Pod", rs["metadata"]["namespace"], f"{rs['metadata']['name']}-")
            self.ctx.create_pod(rs, name=name)
        active = [p for p in self.ctx.owned("Pod", rs) if is_active(p)]
        status = drop_zero(
            {
                "replicas": len(active),
                "fullyLabeledReplicas": len(active),
                "readyReplicas": sum(1 for p in active if is_ready(p)),
                "availableReplicas": sum(1 for p in active if is_available(p)),
                "observedGeneration": rs["metadata"].get("generation", 1),
            },
            "replicas",
        )
        self.ctx.save_status("ReplicaSet", rs, status)
