"""The Deployment controller: revisions, rolling updates in steps, and kubectl-visible status.

One `sync` is one pass of the real controller: create the new ReplicaSet (numbering
revisions as `rollout undo` expects, renumbering an old ReplicaSet the template went
back to), then either scale the new ReplicaSet up within `maxSurge` or the old ones
down within `maxUnavailable` (`Recreate`: old to zero, wait for their pods to go, then
new), then compute status. Until that pass has run, a read shows the previous rollout's
status: the old `observedGeneration` and `NewReplicaSetAvailable` for the old ReplicaSet.
Conditions and reasons are the controller's: Available (MinimumReplicasAvailable /
MinimumReplicasUnavailable) and Progressing (NewReplicaSetCreated, FoundNewReplicaSet,
ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded, DeploymentPaused).
"""

from __future__ import annotations

import copy
import math
from datetime import timedelta
from typing import Any

from remediator.testing._base import Context, drop_zero, parse_time
from remediator.testing._objects import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    REVISION_HISTORY,
    apply_defaults,
    owner_reference,
    revision_of,
    template_hash,
    templates_equal,
)
from remediator.testing._store import Obj

_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
"""Deployment annotations the controller does not copy onto its ReplicaSets (`skipCopyAnnotation`)."""


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent field resolved against `total` (`GetScaledValueFromIntOrPercent`)."""
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def fenceposts(dep: Obj) -> tuple[int, int]:
    """`ResolveFenceposts`: (maxSurge, maxUnavailable), never both zero."""
    replicas = dep["spec"].get("replicas", 1)
    rolling = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


class DeploymentController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _get(self, dep: Obj) -> Obj | None:
        return self.ctx.store.get("Deployment", dep["metadata"]["namespace"], dep["metadata"]["name"])

    def _replicasets(self, dep: Obj) -> list[Obj]:
        return [rs for rs in self.ctx.owned("ReplicaSet", dep) if not rs["metadata"].get("deletionTimestamp")]

    # --- one pass --------------------------------------------------------------------------------

    def sync(self, dep: Obj, *, ignore_pause: bool = False) -> None:
        current = self._get(dep)
        if current is None or current["metadata"].get("deletionTimestamp"):
            return
        dep = current
        spec = dep["spec"]
        paused = bool(spec.get("paused")) and not ignore_pause
        progress: tuple[str, str] | None = None
        rses = self._replicasets(dep)
        new_rs = next((rs for rs in rses if templates_equal(rs["spec"]["template"], spec["template"])), None)
        max_old = max((revision_of(rs) for rs in rses if rs is not new_rs), default=0)
        if not paused:
            if new_rs is None:
                new_rs = self.create_replicaset(dep, revision=max_old + 1)
                progress = ("NewReplicaSetCreated", f'Created new replica set "{new_rs["metadata"]["name"]}"')
            elif revision_of(new_rs) <= max_old:
                new_rs = self._renumber(new_rs, max_old + 1)
            self._annotate_revision(dep, new_rs)
            rses = self._replicasets(dep)
            old = [rs for rs in rses if rs["metadata"]["name"] != new_rs["metadata"]["name"]]
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                self._recreate(dep, new_rs, old)
            else:
                self._rolling(dep, new_rs, old)
            if self._complete(dep, new_rs, old):
                self._clean_history(dep, keep=new_rs["metadata"]["name"])
        else:
            active = new_rs or max(rses, key=revision_of, default=None)
            if active is not None and active["spec"].get("replicas", 1) != spec.get("replicas", 1):
                others = [rs for rs in rses if rs["metadata"]["name"] != active["metadata"]["name"]]
                if all(rs["spec"].get("replicas", 1) == 0 for rs in others):
                    self._scale(active, dep, spec.get("replicas", 1))
        self._status(dep, progress=progress, paused=paused)

    def refresh_status(self, dep: Obj, *, ignore_pause: bool = False) -> None:
        """Status again after the ReplicaSets synced in the same pass: their informer events reach
        the Deployment controller within milliseconds on a real cluster."""
        current = self._get(dep)
        if current is None or current["metadata"].get("deletionTimestamp"):
            return
        self._status(current, progress=None, paused=bool(current["spec"].get("paused")) and not ignore_pause)

    def _rolling(self, dep: Obj, new_rs: Obj, old: list[Obj]) -> None:
        want = dep["spec"].get("replicas", 1)
        surge, unavailable = fenceposts(dep)
        new_replicas = new_rs["spec"].get("replicas", 1)
        sizes = {rs["metadata"]["name"]: rs["spec"].get("replicas", 1) for rs in old}
        total = new_replicas + sum(sizes.values())
        target = new_replicas
        if new_replicas > want:
            target = want
        elif new_replicas < want and total < want + surge:  # `NewRSNewReplicas`
            target = new_replicas + min(want + surge - total, want - new_replicas)
        self._scale(new_rs, dep, target)
        if target > new_replicas:
            return  # one step per pass: old ReplicaSets shrink once the new pods count
        # `reconcileOldReplicaSets`: never below `want - maxUnavailable` available pods.
        total = target + sum(sizes.values())
        min_available = want - unavailable
        new_unavailable = target - (new_rs.get("status") or {}).get("availableReplicas", 0)
        budget = total - min_available - new_unavailable
        if budget <= 0:
            return
        oldest_first = sorted(
            old, key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"])
        )
        for rs in oldest_first:  # first the old pods that are not available anyway
            name = rs["metadata"]["name"]
            unhealthy = sizes[name] - (rs.get("status") or {}).get("availableReplicas", 0)
            cut = min(budget, max(unhealthy, 0), sizes[name])
            if cut > 0:
                sizes[name] -= cut
                budget -= cut
        available = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in [new_rs, *old])
        budget = min(budget, available - min_available)
        for rs in oldest_first:
            name = rs["metadata"]["name"]
            cut = min(max(budget, 0), sizes[name])
            sizes[name] -= cut
            budget -= cut
        for rs in old:
            if sizes[rs["metadata"]["name"]] != rs["spec"].get("replicas", 1):
                self._scale(rs, None, sizes[rs["metadata"]["name"]])

    def _recreate(self, dep: Obj, new_rs: Obj, old: list[Obj]) -> None:
        running_old = [rs for rs in old if rs["spec"].get("replicas", 1) > 0]
        for rs in running_old:
            self._scale(rs, None, 0)
        if running_old or any(self.ctx.owned("Pod", rs) for rs in old):
            return  # new pods only once every old pod is gone
        self._scale(new_rs, dep, dep["spec"].get("replicas", 1))

    def _complete(self, dep: Obj, new_rs: Obj, old: list[Obj]) -> bool:
        want = dep["spec"].get("replicas", 1)
        status = new_rs.get("status") or {}
        return (
            new_rs["spec"].get("replicas", 1) == want
            and status.get("availableReplicas", 0) == want
            and all(rs["spec"].get("replicas", 1) == 0 for rs in old)
        )

    # --- ReplicaSets -----------------------------------------------------------------------------

    def create_replicaset(self, dep: Obj, *, revision: int, template: Obj | None = None) -> Obj:
        """A ReplicaSet (scaled to 0) for `template`, default the Deployment's, at `revision`."""
        namespace, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        template = copy.deepcopy(template if template is not None else dep["spec"]["template"])
        pod_hash = template_hash(template)
        template["metadata"].setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        rs_name = f"{name}-{pod_hash}"
        if self.ctx.store.get("ReplicaSet", namespace, rs_name) is not None:
            rs_name = self.ctx.store.unique_name("ReplicaSet", namespace, f"{rs_name}-")
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [owner_reference(dep)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        }
        apply_defaults("ReplicaSet", rs)
        return self.ctx.store.insert("ReplicaSet", rs)

    def _renumber(self, rs: Obj, revision: int) -> Obj:
        """The template went back to an older ReplicaSet (rollout undo): it becomes the newest revision."""
        bumped = copy.deepcopy(rs)
        annotations = bumped["metadata"].setdefault("annotations", {})
        history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
        annotations[REVISION_HISTORY] = ",".join([*history, str(revision_of(rs))])
        annotations[REVISION] = str(revision)
        self.ctx.store.save("ReplicaSet", bumped)
        return bumped

    def _annotate_revision(self, dep: Obj, new_rs: Obj) -> None:
        updated = copy.deepcopy(self._get(dep) or dep)
        updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision_of(new_rs))
        self.ctx.store.save("Deployment", updated)

    def _scale(self, rs: Obj, dep: Obj | None, replicas: int) -> None:
        current = self.ctx.store.get("ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"])
        if current is None:
            return
        updated = copy.deepcopy(current)
        updated["spec"]["replicas"] = replicas
        if dep is not None:
            annotations = updated["metadata"].setdefault("annotations", {})
            for key, value in (dep["metadata"].get("annotations") or {}).items():
                if key not in _NOT_COPIED:
                    annotations[key] = value
            want = dep["spec"].get("replicas", 1)
            annotations[DESIRED_REPLICAS] = str(want)
            annotations[MAX_REPLICAS] = str(want + fenceposts(dep)[0])
        self.ctx.store.save("ReplicaSet", updated)

    def _clean_history(self, dep: Obj, *, keep: str) -> None:
        limit = dep["spec"].get("revisionHistoryLimit", 10)
        idle = [
            rs
            for rs in self._replicasets(dep)
            if rs["metadata"]["name"] != keep
            and rs["spec"].get("replicas", 1) == 0
            and (rs.get("status") or {}).get("replicas", 0) == 0
            and not self.ctx.owned("Pod", rs)
        ]
        for rs in sorted(idle, key=revision_of)[: max(len(idle) - limit, 0)]:
            self.ctx.deleter.delete("ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"])

    # --- status ----------------------------------------------------------------------------------

    def _status(self, dep: Obj, *, progress: tuple[str, str] | None, paused: bool) -> None:
        dep = self._get(dep) or dep
        spec = dep["spec"]
        want = spec.get("replicas", 1)
        rses = self._replicasets(dep)
        new_rs = next((rs for rs in rses if templates_equal(rs["spec"]["template"], spec["template"])), None)

        def total(field: str, of: list[Obj]) -> int:
            return sum((rs.get("status") or {}).get(field, 0) for rs in of)

        old_status = dep.get("status") or {}
        available = total("availableReplicas", rses)
        status: dict[str, Any] = drop_zero(
            {
                "observedGeneration": dep["metadata"].get("generation", 1),
                "replicas": total("replicas", rses),
                "updatedReplicas": total("replicas", [new_rs]) if new_rs else 0,
                "readyReplicas": total("readyReplicas", rses),
                "availableReplicas": available,
                "unavailableReplicas": max(sum(rs["spec"].get("replicas", 1) for rs in rses) - available, 0),
            }
        )
        conditions = {c["type"]: c for c in old_status.get("conditions") or []}
        now = self.ctx.now_str()
        min_available = want - fenceposts(dep)[1]
        if available >= min_available:
            self._set(
                conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            )
        else:
            self._set(
                conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        if paused:
            self._set(conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now)
        elif progress is not None:
            self._set(conditions, "Progressing", "True", *progress, now)
        elif (conditions.get("Progressing") or {}).get("reason") == "DeploymentPaused":
            self._set(conditions, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now)
        self._progress(dep, conditions, status, old_status, rs_name, now, paused=paused)
        ordered = [conditions[t] for t in ("Available", "Progressing", "ReplicaFailure") if t in conditions]
        if ordered:
            status["conditions"] = ordered
        self.ctx.save_status("Deployment", dep, status)

    def _progress(
        self,
        dep: Obj,
        conditions: dict[str, Obj],
        status: Obj,
        old: Obj,
        rs_name: str,
        now: str,
        *,
        paused: bool,
    ) -> None:
        """`syncRolloutStatus`: complete, progressing (made progress), or timed out."""
        deadline = dep["spec"].get("progressDeadlineSeconds")
        if paused or deadline is None:
            return
        want = dep["spec"].get("replicas", 1)
        current = conditions.get("Progressing") or {}
        complete = (
            status.get("updatedReplicas", 0) == want
            and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status["observedGeneration"] >= dep["metadata"].get("generation", 1)
        )
        progressed = (
            status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or status.get("replicas", 0) < old.get("replicas", 0)
            or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or status.get("availableReplicas", 0) > old.get("availableReplicas", 0)
        )
        if complete:
            self._set(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                now,
            )
        elif progressed:
            cond = {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": now,
                "lastTransitionTime": current.get("lastTransitionTime", now)
                if current.get("status") == "True"
                else now,
                "reason": "ReplicaSetUpdated",
                "message": f'ReplicaSet "{rs_name}" is progressing.',
            }
            conditions["Progressing"] = cond
        elif current and current.get("reason") not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded"):
            last = parse_time(current["lastUpdateTime"])
            if last + timedelta(seconds=deadline) < self.ctx.store.now():
                self._set(
                    conditions,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                    now,
                )
        current = conditions.get("Progressing") or {}
        if (
            current.get("status") == "True"
            and current.get("reason") != "NewReplicaSetAvailable"
            and not complete
        ):
            # `requeueStuckDeployment`: look again just after the deadline would pass.
            due = parse_time(current["lastUpdateTime"]) + timedelta(seconds=deadline + 1)
            ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
            self.ctx.timeline.at(
                due,
                lambda: self.sync({"metadata": {"namespace": ns, "name": name}}),
                key=f"deadline/{ns}/{name}",
            )

    @staticmethod
    def _set(conditions: dict[str, Obj], kind: str, status: str, reason: str, message: str, now: str) -> None:
        """`SetDeploymentCondition`: same status and reason changes nothing; a new status moves both times."""
        prev = conditions.get(kind)
        if prev is not None and prev.get("status") == status and prev.get("reason") == reason:
            return
        conditions[kind] = {
            "type": kind,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": prev["lastTransitionTime"]
            if prev is not None and prev.get("status") == status
            else now,
            "reason": reason,
            "message": message,
        }
