"""scale: set the replica count within bounds, through the scale subresource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.actions.attempts import ALREADY_APPLIED, Attempts
from remediator.actions.kube.fields import get, opt_float, opt_int, uid_of
from remediator.actions.kube.kubectl import scale_target
from remediator.actions.kube.plan import Prepared
from remediator.clock import Clock
from remediator.errors import NotApplicableError, PermanentActionError
from remediator.kube import KubeClient
from remediator.model import Change, Target


async def prepare_scale(
    params: Mapping[str, Any],
    target: Target,
    *,
    kube: KubeClient,
    clock: Clock,
    attempts: Attempts | None = None,
) -> Prepared:
    """Read the scale subresource, compute the bounded count, merge-patch it back with the RV read.

    `by` and `factor` are relative: the absolute count is computed once per execution, so a retry
    after a lost answer patches the same count (or finds it in place: success), never scales twice.
    """
    if target.kind == "DaemonSet":
        raise PermanentActionError(f"scale: {target.key}: a DaemonSet runs one pod per node, no replicas")
    given = [k for k in ("to", "by", "factor") if params.get(k) is not None]
    if len(given) != 1:
        raise PermanentActionError(
            f"scale needs exactly one of 'to', 'by' or 'factor' (got {given or 'none'})"
        )
    lo, hi = opt_int(params, "min"), opt_int(params, "max")
    if lo is not None and hi is not None and lo > hi:
        raise PermanentActionError(f"scale: min {lo} is above max {hi}")
    scale = await kube.read_scale(target)
    current = int(get(scale, "spec", "replicas") or 0)
    desired = scale_target(
        current,
        to=opt_int(params, "to"),
        by=opt_int(params, "by"),
        factor=opt_float(params, "factor"),
        lo=lo,
        hi=hi,
        allow_zero=bool(params.get("allow_zero", False)),
    )
    already = False
    if attempts is not None:
        before, desired = attempts.once("replicas", (current, desired))
        already = attempts.sent and current == desired != before
        current = before
    bounds = ", ".join(f"{n} {v}" for n, v in (("min", lo), ("max", hi)) if v is not None)
    bounds = f" ({bounds})" if bounds else ""
    if already:
        done = Change(path="spec.replicas", before=current, after=desired)
        summary = f"scaled {target.key} {current} -> {desired}{bounds} ({ALREADY_APPLIED})"

        async def nothing() -> tuple[tuple[Change, ...], str]:
            return (done,), summary

        return Prepared(changes=(done,), planned=summary, apply=nothing, uid=uid_of(scale))
    if desired == current:
        raise NotApplicableError(f"already at {current} replicas{bounds}")
    body: dict[str, Any] = {"spec": {"replicas": desired}}
    if rv := get(scale, "metadata", "resourceVersion"):
        # A resourceVersion in a patch is a precondition: "4 -> 6" must not land on a changed count (409).
        body["metadata"] = {"resourceVersion": rv}
    change = Change(path="spec.replicas", before=current, after=desired)
    what = f"{target.key} {current} -> {desired}{bounds}"

    async def apply() -> tuple[tuple[Change, ...], str]:
        await kube.patch_scale(target, body)
        return (change,), f"scaled {what}"

    # A Scale carries its workload's uid, so the Event can point at the workload.
    return Prepared(changes=(change,), planned=f"would scale {what}", apply=apply, uid=uid_of(scale))
