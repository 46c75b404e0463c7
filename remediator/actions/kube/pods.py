"""delete_pod: one named pod, or the worst few of a selector, each only if it is still the same pod.

Pods are evicted (policy/v1 Eviction), not deleted, unless the rule says `force: delete`: an
eviction respects the target's PodDisruptionBudget, so remediator takes no more pods down than the
owners allow. A budget that allows no disruption now is "try later" (`TryLaterError`): the plan asks
the API server with a dry-run eviction, so the target guard defers the decision, and an eviction
refused while acting skips the execution rather than failing it or retrying in a loop (it holds no
cooldown, and the decision is deferred again: see `TryLaterError`).

Only pods of the rule's target are ever deleted: a pod's owner chain (Pod -> ReplicaSet -> Deployment,
or Pod -> StatefulSet/DaemonSet, by controller reference and UID) must end at the target workload.
The pod name comes from an alert label and a selector can match several workloads, so a pod of any
other workload (one marked `remediator.io/disabled` included) is skipped: `not_owned_by_target`.
And remediator never leaves the target with fewer than one ready pod: ready pods are deleted only
while another ready pod remains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from remediator.actions.kube.fields import get, opt_int, uid_of
from remediator.actions.kube.kubectl import deletion_order
from remediator.actions.kube.plan import Prepared
from remediator.clock import Clock
from remediator.errors import (
    NotApplicableError,
    PermanentActionError,
    RefusedError,
    RemediatorError,
    TryLaterError,
)
from remediator.kube import KubeClient
from remediator.kubenames import label_selector
from remediator.model import Change, Target

log = structlog.stdlib.get_logger("remediator.actions.kube")


async def prepare_delete_pod(
    params: Mapping[str, Any], target: Target, *, kube: KubeClient, clock: Clock
) -> Prepared:
    """Delete one named pod, or up to `max` pods by label selector: not-Ready first, then oldest.

    Not-Ready pods go first because they serve nothing, so deleting them costs no capacity; among
    equals the oldest goes first (leaks grow with age), then by name for a stable order. Pods already
    terminating are skipped. With neither `pod` nor `selector`, the target workload's selector is used.
    Each delete carries the pod's UID as a precondition: a pod replaced under the same name meanwhile
    (StatefulSets do that) is never deleted by mistake.
    """
    pod_name, selector = params.get("pod"), params.get("selector")
    force = params.get("force")
    if force not in (None, "delete"):
        raise PermanentActionError(f"delete_pod: force {force!r} must be 'delete' (or absent: evict)")
    evict = force is None
    limit = opt_int(params, "max")
    limit = 1 if limit is None else limit
    if pod_name and selector:
        raise PermanentActionError("delete_pod takes 'pod' or 'selector', not both")
    if limit < 1:
        raise PermanentActionError(f"delete_pod: max {limit} must be at least 1")
    ns = target.namespace
    workload = await kube.read_workload(target)
    uid: str | None = uid_of(workload)
    owned_by = await _owners_in_target(kube, target, workload)
    if pod_name:
        pod = await kube.read_pod(ns, str(pod_name))
        if pod is None or get(pod, "metadata", "deletionTimestamp"):
            raise NotApplicableError(f"pod {pod_name!r} not found in {ns!r} (or already terminating)")
        chosen = [pod]
        source = f"pod {pod_name}"
    else:
        if not selector:
            selector = label_selector(get(workload, "spec", "selector") or {})
            if not selector:
                raise PermanentActionError(f"delete_pod: {target.key} has no pod selector")
        pods = await kube.list_pods(ns, str(selector))
        live = [p for p in pods if not get(p, "metadata", "deletionTimestamp")]
        if not live:
            raise NotApplicableError(f"no pod matches {selector!r} in {ns!r}")
        mine = [p for p in live if _controller_uid(p) in owned_by]
        if not mine:
            raise RefusedError(
                f"not_owned_by_target: none of the {len(live)} pod(s) matching {selector!r} in {ns!r} "
                f"belongs to {target.key}"
            )
        chosen = sorted(mine, key=deletion_order)[:limit]
        source = f"selector {selector}"
    if pod_name and _controller_uid(chosen[0]) not in owned_by:
        raise RefusedError(
            f"not_owned_by_target: pod {pod_name!r} in {ns!r} does not belong to {target.key} "
            f"(its controller is {_controller_name(chosen[0])})"
        )
    chosen = await _keep_one_ready(kube, target, workload, chosen)
    if evict:
        chosen = await _allowed_by_budget(kube, ns, chosen)
    verb = "evicted" if evict else "deleted"
    changes = tuple(
        Change(
            path=f"pods[{get(p, 'metadata', 'name')}]",
            before=get(p, "status", "phase"),
            after=verb,
        )
        for p in chosen
    )
    names = ", ".join(str(get(p, "metadata", "name")) for p in chosen)
    count = f"{len(chosen)} pod{'s' if len(chosen) != 1 else ''}"
    remove = kube.evict_pod if evict else kube.delete_pod

    async def apply() -> tuple[tuple[Change, ...], str]:
        made: list[Change] = []
        for pod, change in zip(chosen, changes, strict=True):
            name = str(get(pod, "metadata", "name"))
            try:
                # False: already gone (404), or the UID precondition failed: a replacement took the name.
                deleted = await remove(ns, name, uid=uid_of(pod))
            except RemediatorError as e:
                if not made:
                    raise  # nothing changed yet: safe to retry from a fresh list
                # A retry would pick `max` new pods on top of these: report the partial result instead.
                log.warning("kubernetes: pod deletion stopped early", pod=name, namespace=ns, error=str(e))
                break
            if not deleted:
                log.info("kubernetes: pod gone or replaced before deletion, skipped", pod=name, namespace=ns)
                continue
            made.append(change)
        if not made:
            raise NotApplicableError(
                f"pods {names} in {ns!r} were deleted or replaced before remediator acted"
            )
        done = ", ".join(c.path.removeprefix("pods[").removesuffix("]") for c in made)
        if len(made) == len(chosen):
            return tuple(made), f"{verb} {count} in {ns} ({source}): {done}"
        return tuple(made), f"{verb} {len(made)} of {count} in {ns} ({source}): {done}"

    return Prepared(
        changes=changes,
        planned=f"would {'evict' if evict else 'delete'} {count} in {ns} ({source}): {names}",
        apply=apply,
        uid=uid,
    )


def _controller(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in get(obj, "metadata", "ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    return None


def _controller_uid(obj: Mapping[str, Any]) -> str | None:
    ref = _controller(obj)
    return str(ref.get("uid")) if ref is not None and ref.get("uid") else None


def _controller_name(obj: Mapping[str, Any]) -> str:
    ref = _controller(obj)
    return f"{ref.get('kind')}/{ref.get('name')}" if ref is not None else "none"


async def _owners_in_target(kube: KubeClient, target: Target, workload: Mapping[str, Any]) -> set[str]:
    """UIDs a pod's controller reference may name for the pod to belong to `target`: the workload
    itself (StatefulSet, DaemonSet), or, for a Deployment, the ReplicaSets it controls."""
    uid = uid_of(workload)
    if uid is None:
        return set()
    if target.kind != "Deployment":
        return {uid}
    selector = label_selector(get(workload, "spec", "selector") or {})
    sets = await kube.list_replica_sets(target.namespace, selector) if selector else []
    return {rs_uid for rs in sets if _controller_uid(rs) == uid and (rs_uid := uid_of(rs)) is not None}


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in get(pod, "status", "conditions") or []
    ) and not get(pod, "metadata", "deletionTimestamp")


async def _keep_one_ready(
    kube: KubeClient, target: Target, workload: Mapping[str, Any], chosen: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`chosen` less the ready pods whose deletion would leave the target with no ready pod."""
    selector = label_selector(get(workload, "spec", "selector") or {})
    owners = await _owners_in_target(kube, target, workload)
    pods = await kube.list_pods(target.namespace, selector) if selector else []
    ready = sum(1 for p in pods if _ready(p) and _controller_uid(p) in owners)
    spare = ready - 1
    kept: list[dict[str, Any]] = []
    for pod in chosen:
        if _ready(pod):
            if spare <= 0:
                continue
            spare -= 1
        kept.append(pod)
    if not kept:
        raise RefusedError(
            f"last_ready_pod: taking it down would leave {target.key} with no ready pod ({ready} ready): "
            "remediator never does that"
        )
    return kept


async def _allowed_by_budget(kube: KubeClient, ns: str, chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`chosen` less the pods the API server would not evict now (a dry-run eviction of each).

    Raises `TryLaterError` when it would evict none of them because of a disruption budget.
    """
    allowed: list[dict[str, Any]] = []
    refused: TryLaterError | None = None
    for pod in chosen:
        try:
            if await kube.evict_pod(ns, str(get(pod, "metadata", "name")), uid=uid_of(pod), dry_run=True):
                allowed.append(pod)
        except TryLaterError as e:
            refused = e
    if not allowed:
        if refused is not None:
            raise refused
        raise NotApplicableError(f"the chosen pods in {ns!r} are gone or were replaced")
    return allowed
