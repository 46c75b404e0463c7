"""The plan without a cluster: what an action would do when the current values are unknown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from remediator.actions.kube.kubectl import RESTARTED_AT
from remediator.actions.kube.times import rfc3339
from remediator.durations import format_duration
from remediator.errors import PermanentActionError
from remediator.model import ActionResult, ActionSpec, Change, Target


def static_plan(spec: ActionSpec, target: Target, *, now: datetime | None = None) -> ActionResult:
    """What an action would do when no cluster is reachable: current values unknown (`before=None`).

    `now` fills in the restart timestamp when known; otherwise it reads "<now>".
    """
    p = spec.params
    key = target.key
    changes: tuple[Change, ...]
    if spec.kind == "rollout_restart":
        stamp = rfc3339(now) if now is not None else "<now>"
        changes = (
            Change(path=f"spec.template.metadata.annotations[{RESTARTED_AT}]", before=None, after=stamp),
        )
        summary = f"would restart {key}"
    elif spec.kind == "rollout_undo":
        to = f"revision {p['to_revision']}" if p.get("to_revision") else "the previous revision"
        changes = (Change(path="spec.template", before=None, after=to),)
        within = p.get("only_if_rolled_out_within")
        cond = f" if rolled out within {format_duration(float(within))}" if within is not None else ""
        summary = f"would roll back {key} to {to}{cond}"
    elif spec.kind == "scale":
        bounds = ", ".join(f"{n} {p[n]}" for n in ("min", "max") if p.get(n) is not None)
        bounds = f" ({bounds})" if bounds else ""
        if p.get("to") is not None:
            after: Any = p["to"]
        elif p.get("by") is not None:
            after = f"current {int(p['by']):+d}"
        else:
            after = f"current x {p.get('factor')}"
        changes = (Change(path="spec.replicas", before=None, after=after),)
        summary = f"would scale {key} to {after}{bounds}"
    elif spec.kind == "set_env":
        container = p.get("container") or "<first>"
        changes = (
            Change(
                path=f"spec.template.spec.containers[{container}].env[{p.get('name')}]",
                before=None,
                after=None if p.get("value") is None else str(p.get("value")),
            ),
        )
        summary = f"would set {p.get('name')}={p.get('value')!r} on {key} (container {container})"
    elif spec.kind == "delete_pod":
        done, verb = ("deleted", "delete") if p.get("force") == "delete" else ("evicted", "evict")
        if p.get("pod"):
            changes = (Change(path=f"pods[{p['pod']}]", before=None, after=done),)
            summary = f"would {verb} pod {p['pod']} in {target.namespace}"
        else:
            selector = p.get("selector") or f"<selector of {key}>"
            limit = p.get("max") or 1
            changes = (Change(path=f"pods[{selector}]", before=None, after=f"up to {limit} {done}"),)
            summary = f"would {verb} up to {limit} pods in {target.namespace} (selector {selector})"
    elif spec.kind == "set_image":
        container = p.get("container") or "<only>"
        changes = (
            Change(path=f"spec.template.spec.containers[{container}].image", before=None, after=p["image"]),
        )
        summary = f"would set image {p['image']} on {key} (container {container})"
    elif spec.kind in ("pause_rollout", "resume_rollout"):
        pause = spec.kind == "pause_rollout"
        changes = (Change(path="spec.paused", before=None, after=pause),)
        summary = f"would {'pause' if pause else 'resume'} the rollout of {key}"
    elif spec.kind == "run_job":
        command = " ".join(str(a) for a in p["command"])
        changes = (Change(path=f"jobs[{target.namespace}]", before=None, after=f"{p['image']}: {command}"),)
        summary = f"would run a Job in {target.namespace}: {p['image']} {command}"
    else:
        raise PermanentActionError(f"unknown Kubernetes action {spec.kind!r}")
    return ActionResult(
        kind=spec.kind,
        target=target,
        changes=changes,
        summary=f"{summary} (cluster state unknown)",
        applied=False,
    )
