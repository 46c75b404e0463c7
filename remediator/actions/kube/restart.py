"""rollout_restart: `kubectl rollout restart`, unless the workload has just rolled out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from remediator.actions.attempts import ALREADY_APPLIED, Attempts
from remediator.actions.kube.fields import get, opt_float, uid_of
from remediator.actions.kube.history import owned_replica_sets, require_current_history
from remediator.actions.kube.kubectl import RESTARTED_AT, ROLLED_BACK_AT
from remediator.actions.kube.own import classify, newest_deploy
from remediator.actions.kube.plan import Prepared
from remediator.actions.kube.times import parse_time, rfc3339
from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.errors import NotApplicableError, PermanentActionError
from remediator.kube import KubeClient
from remediator.kube.client import STRATEGIC_MERGE
from remediator.model import Change, Target
from remediator.store.revisions import OwnRevision


async def prepare_restart(
    params: Mapping[str, Any],
    target: Target,
    *,
    kube: KubeClient,
    clock: Clock,
    attempts: Attempts | None = None,
    own: Sequence[OwnRevision] = (),
) -> Prepared:
    """kubectl rollout restart: stamp the pod template so the controller rolls every pod.

    The stamp is the execution's start time, the same on every attempt, so a retry after a lost
    answer sends an identical patch (no second rollout) or finds the stamp in place: success. The
    patch is conditional on the resourceVersion it was computed from, so an attempt that lands late
    (after the client timed out and retried) is refused instead of applied a second time.

    `unless_rolled_out_within` (Deployments) leaves a fresh rollout alone: after a recent
    deploy the runbook says roll back, and a restart would only roll the bad version again.
    Revisions remediator made itself (`own`: a restart, a fallback flag) are not deploys: the newest
    deploy is the newest revision it did not make; a rollback remediator made counts (its stamp).
    """
    obj = await kube.read_workload(target)
    now = rfc3339(attempts.started_at if attempts is not None else clock.now())
    before = get(obj, "spec", "template", "metadata", "annotations", RESTARTED_AT)
    if attempts is not None:
        first_before = attempts.once("restartedAt", before)
        if attempts.sent and before == now != first_before:
            # Checked first: the rollout it started would otherwise look like someone else's.
            return _already_applied(target, obj, first_before, now)
    if target.kind == "Deployment" and get(obj, "spec", "paused"):
        raise PermanentActionError(
            f"{target.key}: can't restart paused deployment (run rollout resume first)"
        )
    unless_s = opt_float(params, "unless_rolled_out_within")
    if unless_s is not None and target.kind == "Deployment":
        require_current_history(obj, target)  # a deploy not yet observed has no ReplicaSet to date it
        history = classify(await owned_replica_sets(kube, target, obj), own)
        stamps = [parse_time(get(obj, "metadata", "annotations", ROLLED_BACK_AT))]
        if (deploy := newest_deploy(history)) is not None:
            stamps.append(parse_time(get(deploy.replica_set, "metadata", "creationTimestamp")))
        known = [t for t in stamps if t is not None]
        if known:
            age_s = max(0.0, (clock.now() - max(known)).total_seconds())
            if age_s <= unless_s:
                raise NotApplicableError(
                    f"rolled out {format_duration(float(int(age_s)))} ago, within "
                    f"{format_duration(unless_s)}: a restart would roll the new version again"
                )
    if before == now:
        # kubectl fails the same way: the patch would be empty, so nothing would roll.
        raise NotApplicableError(f"{target.key} already restarted at {now}")
    body: dict[str, Any] = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
    if rv := get(obj, "metadata", "resourceVersion"):
        # A precondition (409 if the object changed since this read), so of one execution's attempts
        # only one write can ever land: a starved server may apply an attempt the client gave up on
        # after the retry's own patch, and without it both would (a second rollout when the stamps
        # differ, a second write in any case). A 409 is retried from a fresh read, which then finds
        # this execution's stamp in place (`_already_applied`).
        body["metadata"] = {"resourceVersion": rv}
    change = Change(path=f"spec.template.metadata.annotations[{RESTARTED_AT}]", before=before, after=now)
    done = f"restarted {target.key} (restartedAt {now})"

    written: dict[str, Any] = {}

    async def apply() -> tuple[tuple[Change, ...], str]:
        written.update(await kube.patch_workload(target, body, STRATEGIC_MERGE))
        return (change,), done

    return Prepared(
        changes=(change,),
        planned=f"would restart {target.key}",
        apply=apply,
        uid=uid_of(obj),
        own="restart",
        written=written,
    )


def _already_applied(target: Target, obj: Mapping[str, Any], before: Any, now: str) -> Prepared:
    """An earlier attempt's patch landed though its answer was lost: report it, send nothing."""
    change = Change(path=f"spec.template.metadata.annotations[{RESTARTED_AT}]", before=before, after=now)
    done = f"restarted {target.key} (restartedAt {now}; {ALREADY_APPLIED})"

    async def apply() -> tuple[tuple[Change, ...], str]:
        return (change,), done

    # The object read now carries the template the lost answer would have: it is the revision made.
    return Prepared(
        changes=(change,),
        planned=f"would restart {target.key}",
        apply=apply,
        uid=uid_of(obj),
        own="restart",
        written=dict(obj),
    )
