"""pause_rollout / resume_rollout: `kubectl rollout pause|resume` on a Deployment.

A paused Deployment keeps its pods as they are, old and new: a canary whose error alert fires
stops growing at once, without a rollback that would itself be a rollout. The merge patch carries
the resourceVersion read, so a concurrent edit is a 409 and a fresh read, not a blind overwrite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.actions.kube.fields import get, uid_of
from remediator.actions.kube.plan import Prepared
from remediator.clock import Clock
from remediator.errors import NotApplicableError, PermanentActionError
from remediator.kube import KubeClient
from remediator.kube.client import MERGE
from remediator.model import Change, Target


async def prepare_pause(
    params: Mapping[str, Any], target: Target, *, kube: KubeClient, clock: Clock
) -> Prepared:
    return await _prepare(target, kube=kube, pause=True)


async def prepare_resume(
    params: Mapping[str, Any], target: Target, *, kube: KubeClient, clock: Clock
) -> Prepared:
    return await _prepare(target, kube=kube, pause=False)


async def _prepare(target: Target, *, kube: KubeClient, pause: bool) -> Prepared:
    verb = "pause" if pause else "resume"
    if target.kind != "Deployment":
        raise PermanentActionError(f"{verb}_rollout: {target.key}: only Deployments can be paused")
    obj = await kube.read_workload(target)
    paused = bool(get(obj, "spec", "paused"))
    if paused == pause:
        raise NotApplicableError(f"{target.key} is already {'paused' if pause else 'not paused'}")
    body: dict[str, Any] = {"spec": {"paused": pause}}
    if rv := get(obj, "metadata", "resourceVersion"):
        body["metadata"] = {"resourceVersion": rv}
    change = Change(path="spec.paused", before=paused, after=pause)
    done = "paused" if pause else "resumed"

    async def apply() -> tuple[tuple[Change, ...], str]:
        await kube.patch_workload(target, body, MERGE)
        return (change,), f"{done} the rollout of {target.key}"

    return Prepared(
        changes=(change,), planned=f"would {verb} the rollout of {target.key}", apply=apply, uid=uid_of(obj)
    )
