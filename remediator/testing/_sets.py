"""The StatefulSet and DaemonSet controllers, one pod at a time as their default strategies go.

StatefulSet (OrderedReady, RollingUpdate with partition 0): pods `<name>-<ordinal>` are
created in order, each once the previous is Running and Ready; an update replaces the
highest ordinal first, deleting it gracefully and recreating it at the new revision, one
pod at a time; `currentRevision` catches up with `updateRevision` when all are updated.
DaemonSet (RollingUpdate, maxUnavailable 1): one pod per node of the fake's three; an
update replaces one node's pod at a time, waiting for the new one to be ready.
"""

from __future__ import annotations

from remediator.testing._base import Context, drop_zero
from remediator.testing._objects import NODES, template_hash
from remediator.testing._pods import is_active, is_available, is_ready
from remediator.testing._store import Obj

REVISION_LABEL = "controller-revision-hash"


class StatefulSetController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def sync(self, sts: Obj) -> None:
        store = self.ctx.store
        sts = store.get("StatefulSet", sts["metadata"]["namespace"], sts["metadata"]["name"]) or sts
        if sts["metadata"].get("deletionTimestamp"):
            return
        name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
        revision = f"{name}-{template_hash(sts['spec']['template'])}"
        want = sts["spec"].get("replicas", 1)
        parallel = sts["spec"].get("podManagementPolicy") == "Parallel"
        owned = {p["metadata"]["name"]: p for p in self.ctx.owned("Pod", sts)}
        busy = any(not is_active(p) or not is_ready(p) for p in owned.values())
        for ordinal in range(want):  # create missing ordinals in order
            pod_name = f"{name}-{ordinal}"
            if pod_name in owned or store.get("Pod", ns, pod_name) is not None:
                continue
            if busy and not parallel and not self.ctx.seeding:
                break
            labels = {
                REVISION_LABEL: revision,
                "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(ordinal),
            }
            pod = self.ctx.create_pod(sts, name=pod_name, labels=labels)
            owned[pod_name] = pod
            busy = True
            if not parallel and not self.ctx.seeding:
                break
        extra = sorted(
            (p for n, p in owned.items() if int(n.rsplit("-", 1)[1]) >= want),
            key=lambda p: p["metadata"]["name"],
        )
        for pod in reversed(extra):  # scale down from the highest ordinal
            self.ctx.delete_pod(pod)
            if not parallel and not self.ctx.seeding:
                break
        if not busy and not extra:  # rolling update: the highest ordinal still on an old revision
            stale = [
                p
                for n, p in owned.items()
                if int(n.rsplit("-", 1)[1]) < want and p["metadata"]["labels"].get(REVISION_LABEL) != revision
            ]
            if stale:
                victim = max(stale, key=lambda p: int(p["metadata"]["name"].rsplit("-", 1)[1]))
                self.ctx.delete_pod(victim)
        pods = [p for p in self.ctx.owned("Pod", sts) if not p["metadata"].get("deletionTimestamp")]
        updated = sum(1 for p in pods if p["metadata"]["labels"].get(REVISION_LABEL) == revision)
        old_status = sts.get("status") or {}
        current_revision = old_status.get("currentRevision", revision)
        if updated == want and len(pods) == want:
            current_revision = revision
        current = sum(1 for p in pods if p["metadata"]["labels"].get(REVISION_LABEL) == current_revision)
        ready = sum(1 for p in pods if is_ready(p))
        status = drop_zero(
            {
                "observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(pods),
                "readyReplicas": ready,
                "currentReplicas": current,
                "updatedReplicas": updated,
                "availableReplicas": sum(1 for p in pods if is_available(p)),
                "currentRevision": current_revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
            "replicas",
            "availableReplicas",
            "collisionCount",  # a pointer in Go: 0 is sent, not omitted
        )
        self.ctx.save_status("StatefulSet", sts, status)


class DaemonSetController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def sync(self, ds: Obj) -> None:
        store = self.ctx.store
        ds = store.get("DaemonSet", ds["metadata"]["namespace"], ds["metadata"]["name"]) or ds
        if ds["metadata"].get("deletionTimestamp"):
            return
        revision = template_hash(ds["spec"]["template"])
        labels = {
            REVISION_LABEL: revision,
            "pod-template-generation": str(ds["metadata"].get("generation", 1)),
        }
        by_node: dict[str, Obj] = {}
        for pod in self.ctx.owned("Pod", ds):
            node = pod["spec"].get("nodeName", "")
            if pod["metadata"].get("deletionTimestamp"):
                by_node.setdefault(node, pod)  # the node's slot is taken until the old pod is gone
            elif node not in NODES or node in by_node:
                self.ctx.delete_pod(pod)
            else:
                by_node[node] = pod
        for node in NODES:
            if node not in by_node:
                name = store.unique_name("Pod", ds["metadata"]["namespace"], f"{ds['metadata']['name']}-")
                by_node[node] = self.ctx.create_pod(ds, name=name, labels=labels, node=node)
        pods = list(by_node.values())
        if all(is_active(p) and is_ready(p) for p in pods):
            stale = [p for p in pods if p["metadata"]["labels"].get(REVISION_LABEL) != revision]
            if stale:
                self.ctx.delete_pod(min(stale, key=lambda p: p["spec"].get("nodeName", "")))
        live = [p for p in self.ctx.owned("Pod", ds) if not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in live if is_ready(p))
        status = drop_zero(
            {
                "currentNumberScheduled": len(live),
                "numberMisscheduled": 0,
                "desiredNumberScheduled": len(NODES),
                "numberReady": ready,
                "observedGeneration": ds["metadata"].get("generation", 1),
                "updatedNumberScheduled": sum(
                    1 for p in live if p["metadata"]["labels"].get(REVISION_LABEL) == revision
                ),
                "numberAvailable": sum(1 for p in live if is_available(p)),
                "numberUnavailable": len(NODES) - sum(1 for p in live if is_available(p)),
            },
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
        )
        self.ctx.save_status("DaemonSet", ds, status)
