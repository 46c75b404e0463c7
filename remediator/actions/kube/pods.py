"""delete_pod: one named pod, or the worst few of a selector, each only if it is still the same pod."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from remediator.actions.kube.fields import get, opt_int, uid_of
from remediator.actions.kube.kubectl import deletion_order
from remediator.actions.kube.plan import Prepared
from remediator.clock import Clock
from remediator.errors import NotApplicableError, PermanentActionError, RemediatorError
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
    limit = opt_int(params, "max")
    limit = 1 if limit is None else limit
    if pod_name and selector:
        raise PermanentActionError("delete_pod takes 'pod' or 'selector', not both")
    if limit < 1:
        raise PermanentActionError(f"delete_pod: max {limit} must be at least 1")
    ns = target.namespace
    uid: str | None = None
    if pod_name:
        pod = await kube.read_pod(ns, str(pod_name))
        if pod is None or get(pod, "metadata", "deletionTimestamp"):
            raise NotApplicableError(f"pod {pod_name!r} not found in {ns!r} (or already terminating)")
        chosen = [pod]
        source = f"pod {pod_name}"
    else:
        if not selector:
            workload = await kube.read_workload(target)
            uid = uid_of(workload)
            selector = label_selector(get(workload, "spec", "selector") or {})
            if not selector:
                raise PermanentActionError(f"delete_pod: {target.key} has no pod selector")
        pods = await kube.list_pods(ns, str(selector))
        live = [p for p in pods if not get(p, "metadata", "deletionTimestamp")]
        if not live:
            raise NotApplicableError(f"no pod matches {selector!r} in {ns!r}")
        chosen = sorted(live, key=deletion_order)[:limit]
        source = f"selector {selector}"
    changes = tuple(
        Change(
            path=f"pods[{get(p, 'metadata', 'name')}]",
            before=get(p, "status", "phase"),
            after="deleted",
        )
        for p in chosen
    )
    names = ", ".join(str(get(p, "metadata", "name")) for p in chosen)
    count = f"{len(chosen)} pod{'s' if len(chosen) != 1 else ''}"

    async def apply() -> tuple[tuple[Change, ...], str]:
        made: list[Change] = []
        for pod, change in zip(chosen, changes, strict=True):
            name = str(get(pod, "metadata", "name"))
            try:
                # False: already gone (404), or the UID precondition failed: a replacement took the name.
                deleted = await kube.delete_pod(ns, name, uid=uid_of(pod))
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
            return tuple(made), f"deleted {count} in {ns} ({source}): {done}"
        return tuple(made), f"deleted {len(made)} of {count} in {ns} ({source}): {done}"

    return Prepared(
        changes=changes,
        planned=f"would delete {count} in {ns} ({source}): {names}",
        apply=apply,
        uid=uid,
    )
