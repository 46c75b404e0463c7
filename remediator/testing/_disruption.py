"""PodDisruptionBudgets (policy/v1): the disruption controller's status and the eviction check.

The controller counts the budget's pods: `expectedPods` (the pods themselves for an
integer `minAvailable`, else the scale of their controllers), `desiredHealthy`,
`currentHealthy` (ready, not terminating, not just evicted) and `disruptionsAllowed`, and
sets the `DisruptionAllowed` condition (SufficientPods / InsufficientPods, or SyncFailed
when a percentage cannot be resolved because a pod has no controller).

An eviction (`POST .../pods/{name}/eviction`) is checked against that status as
`EvictionREST.Create` does: finished, pending or already terminating pods are deleted
without a check; more than one budget is a 500; a budget whose status is older than its
spec is a 429 with Retry-After 10; no disruption allowed is a 429 TooManyRequests with a
`DisruptionBudget` cause and no Retry-After. An allowed eviction decrements
`disruptionsAllowed`, records the pod in `disruptedPods`, marks the pod with a
`DisruptionTarget` condition and deletes it gracefully.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from remediator.testing._base import Context, parse_time
from remediator.testing._errors import ApiError
from remediator.testing._pods import is_ready
from remediator.testing._selectors import selector_matches
from remediator.testing._store import Obj

DELETION_TIMEOUT_S = 120
"""How long an evicted pod stays in `disruptedPods` if it is never deleted (`DeletionTimeout`)."""
_CAUSE = "DisruptionBudget"


class _Unmanaged(Exception):
    pass


def budgets_for(pdbs: list[Obj], pod: Mapping[str, Any]) -> list[Obj]:
    """Budgets selecting the pod; an empty or missing selector selects nothing for eviction."""
    labels = pod["metadata"].get("labels") or {}
    out = []
    for pdb in pdbs:
        selector = pdb["spec"].get("selector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            continue
        if selector_matches(selector, labels):
            out.append(pdb)
    return out


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


class DisruptionController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _pods(self, pdb: Obj) -> list[Obj]:
        selector = pdb["spec"].get("selector")
        if selector is None:
            return []
        return [
            p
            for p in self.ctx.store.items("Pod", pdb["metadata"]["namespace"])
            if selector_matches(selector, p["metadata"].get("labels") or {})
        ]

    def _expected_scale(self, pods: list[Obj]) -> int:
        """Sum of the scale of the pods' controllers (a Deployment through its ReplicaSet)."""
        scales: dict[str, int] = {}
        for pod in pods:
            ref = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
            if ref is None:
                raise _Unmanaged(f'found no controller ref for pod "{pod["metadata"]["name"]}"')
            found = self.ctx.store.by_uid(ref["uid"], pod["metadata"]["namespace"])
            if found is None:
                continue
            kind, owner = found
            if kind == "ReplicaSet":
                dep_ref = next(
                    (r for r in owner["metadata"].get("ownerReferences") or [] if r.get("controller")), None
                )
                parent = (
                    self.ctx.store.by_uid(dep_ref["uid"], owner["metadata"]["namespace"]) if dep_ref else None
                )
                if parent is not None and parent[0] == "Deployment":
                    kind, owner = parent
            if kind not in ("ReplicaSet", "Deployment", "StatefulSet"):
                raise _Unmanaged(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            scales[owner["metadata"]["uid"]] = owner["spec"].get("replicas", 1)
        return sum(scales.values())

    def sync(self, pdb: Obj) -> None:
        pdb = (
            self.ctx.store.get("PodDisruptionBudget", pdb["metadata"]["namespace"], pdb["metadata"]["name"])
            or pdb
        )
        spec = pdb["spec"]
        old = pdb.get("status") or {}
        pods = self._pods(pdb)
        now = self.ctx.store.now()
        disrupted = {}
        for name, at in (old.get("disruptedPods") or {}).items():
            pod = next((p for p in pods if p["metadata"]["name"] == name), None)
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                continue  # the eviction went through
            expires = parse_time(at) + timedelta(seconds=DELETION_TIMEOUT_S)
            if expires > now:
                disrupted[name] = at
                ns, pdb_name = pdb["metadata"]["namespace"], pdb["metadata"]["name"]
                self.ctx.timeline.at(expires, lambda: self.sync(pdb), key=f"pdb/{ns}/{pdb_name}")
        status: dict[str, Any] = {
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0,
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        try:
            if spec.get("maxUnavailable") is not None:
                expected = self._expected_scale(pods)
                desired = max(expected - _scaled(spec["maxUnavailable"], expected, round_up=True), 0)
            elif isinstance(spec.get("minAvailable"), str):
                expected = self._expected_scale(pods)
                desired = _scaled(spec["minAvailable"], expected, round_up=True)
            else:
                expected = len(pods)
                desired = int(spec.get("minAvailable") or 0)
        except _Unmanaged as exc:
            status["conditions"] = [self._condition(old, "False", "SyncFailed", str(exc), status)]
            self.ctx.save_status("PodDisruptionBudget", pdb, status)
            return
        healthy = sum(
            1
            for p in pods
            if is_ready(p)
            and not p["metadata"].get("deletionTimestamp")
            and p["metadata"]["name"] not in disrupted
        )
        allowed = healthy - desired
        status.update(
            {
                "disruptionsAllowed": allowed if expected > 0 and allowed > 0 else 0,
                "currentHealthy": healthy,
                "desiredHealthy": desired,
                "expectedPods": expected,
            }
        )
        status["conditions"] = [self.allowed_condition(old, status)]
        self.ctx.save_status("PodDisruptionBudget", pdb, status)

    def allowed_condition(self, old: Mapping[str, Any], status: Mapping[str, Any]) -> Obj:
        if status["disruptionsAllowed"] > 0:
            return self._condition(old, "True", "SufficientPods", "", status)
        return self._condition(old, "False", "InsufficientPods", "", status)

    def _condition(
        self, old: Mapping[str, Any], value: str, reason: str, message: str, status: Mapping[str, Any]
    ) -> Obj:
        """`apimeta.SetStatusCondition`: lastTransitionTime moves only when the status does."""
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
        moved = prev is None or prev.get("status") != value
        return {
            "type": "DisruptionAllowed",
            "status": value,
            "observedGeneration": status["observedGeneration"],
            "lastTransitionTime": self.ctx.now_str() if moved or prev is None else prev["lastTransitionTime"],
            "reason": reason,
            "message": message,
        }

    # --- the eviction subresource ----------------------------------------------------------------

    def evict(self, pod: Obj, *, grace: int | None, dry: bool) -> None:
        """Check the budgets and delete the pod, or raise the ApiError the API server answers."""
        meta = pod["metadata"]
        ns = meta["namespace"]
        phase = pod["status"].get("phase")
        if phase in ("Succeeded", "Failed", "Pending") or meta.get("deletionTimestamp"):
            self._delete(pod, grace, dry)  # `canIgnorePDB`
            return
        pdbs = budgets_for(self.ctx.store.items("PodDisruptionBudget", ns), pod)
        if len(pdbs) > 1:
            raise ApiError(
                500,
                "This pod has more than one PodDisruptionBudget, "
                "which the eviction subresource does not support.",
                reason="",
            )
        if pdbs:
            pdb = pdbs[0]
            status = pdb.get("status") or {}
            unhealthy_ok = not is_ready(pod) and (
                pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
                or (status.get("currentHealthy", 0) >= status.get("desiredHealthy", 0) > 0)
            )
            if not unhealthy_ok:
                self._check_and_decrement(pdb, meta["name"], dry)
        self._delete(pod, grace, dry)

    def _check_and_decrement(self, pdb: Obj, pod_name: str, dry: bool) -> None:
        status = copy.deepcopy(pdb.get("status") or {})
        name = pdb["metadata"]["name"]
        if status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
            raise too_many_requests(
                f"The disruption budget {name} is still being processed by the server.", retry_after=10
            )
        allowed = status.get("disruptionsAllowed", 0)
        if allowed < 0:
            raise ApiError(
                403,
                f'poddisruptionbudgets.policy "{name}" is forbidden: pdb disruptions allowed is negative',
                details={"name": name, "group": "policy", "kind": "poddisruptionbudgets"},
            )
        if allowed == 0:
            raise too_many_requests(
                f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} healthy pods "
                f"and has {status.get('currentHealthy', 0)} currently",
                retry_after=0,
            )
        if dry:
            return
        status["disruptionsAllowed"] = allowed - 1
        status.setdefault("disruptedPods", {})[pod_name] = self.ctx.now_str()
        if allowed - 1 == 0:
            status["conditions"] = [self.allowed_condition(pdb.get("status") or {}, status)]
        self.ctx.save_status("PodDisruptionBudget", pdb, status)

    def _delete(self, pod: Obj, grace: int | None, dry: bool) -> None:
        if dry:
            return
        meta = pod["metadata"]
        if not meta.get("deletionTimestamp") and pod["status"].get("phase") not in ("Succeeded", "Failed"):
            marked = copy.deepcopy(pod)
            marked["status"].setdefault("conditions", []).append(
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.ctx.now_str(),
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                }
            )
            self.ctx.store.save("Pod", marked)
        self.ctx.deleter.delete("Pod", meta["namespace"], meta["name"], grace=grace)


def too_many_requests(cause: str, *, retry_after: int) -> ApiError:
    """`createTooManyRequestsError` / `NewTooManyRequests`: Retry-After only when it is not 0."""
    details: dict[str, Any] = {"causes": [{"reason": _CAUSE, "message": cause}]}
    headers: dict[str, str] = {}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return ApiError(
        429,
        "Cannot evict pod as it would violate the pod's disruption budget.",
        details=details,
        headers=headers,
    )
