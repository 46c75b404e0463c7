"""rollout_undo: `kubectl rollout undo`, judged on how recent the last rollout is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from remediator.actions.attempts import ALREADY_APPLIED, Attempts
from remediator.actions.kube.diff import diff
from remediator.actions.kube.fields import get, opt_float, opt_int, uid_of
from remediator.actions.kube.history import owned_replica_sets, require_current_history
from remediator.actions.kube.kubectl import ROLLED_BACK_AT, images, rollback_annotations, without_hash
from remediator.actions.kube.own import Revision, classify, newest_deploy
from remediator.actions.kube.plan import Prepared
from remediator.actions.kube.times import parse_time, rfc3339
from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.errors import NotApplicableError, PermanentActionError, RefusedError
from remediator.kube import KubeClient
from remediator.kube.client import JSON_PATCH
from remediator.model import Change, Target
from remediator.store.revisions import OwnRevision


async def prepare_undo(
    params: Mapping[str, Any],
    target: Target,
    *,
    kube: KubeClient,
    clock: Clock,
    attempts: Attempts | None = None,
    own: Sequence[OwnRevision] = (),
) -> Prepared:
    """kubectl rollout undo (rollback.go), plus a resourceVersion test so a concurrent edit fails.

    Revisions remediator made itself (`own`: journaled templates of its set_env, set_image and
    rollout_restart writes) are not deploys. The undo goes back to the revision before the newest
    deploy (kubectl would go back one revision, which after a remediator restart or fallback flag
    only drops remediator's change and keeps the deploy), and it is skipped as
    `would_revert_mitigation` when that would also take away a mitigation remediator applied after
    the deploy and still in effect (the README says why it does not re-apply it instead).

    `only_if_rolled_out_within` is judged on the creation time of the newest deploy's ReplicaSet.
    An undo re-uses the old ReplicaSet (the controller only bumps its revision), so right after an
    undo the "last rollout" looks old and a second undo is refused: the conservative answer, which
    stops two rules from flip-flopping a Deployment between two revisions.

    Right after a deploy the controller may not have made the new revision's ReplicaSet yet; the
    undo then waits (a transient error) rather than go back two revisions.

    A paused Deployment is refused, as kubectl refuses it, unless `resume_paused` (set by the canary
    follow-up of `pause_rollout`, never by a rule file): then the same patch resumes it, so the
    rollback is one atomic write rather than a resume that would first roll the bad canary further.

    The first attempt records the template it rolls back from and to. A retry after a lost answer
    that finds the workload already on the target template reports success: undoing again would go
    back a second revision (the rolled-back one is now the newest, the bad one the previous).
    """
    if target.kind != "Deployment":
        raise PermanentActionError(
            f"rollout_undo: {target.key}: only Deployments keep a ReplicaSet history to undo"
        )
    within_s = opt_float(params, "only_if_rolled_out_within")
    to_revision = opt_int(params, "to_revision") or 0
    if to_revision < 0:
        raise PermanentActionError(f"rollout_undo: to_revision {to_revision!r} must not be negative")
    dep = await kube.read_workload(target)
    if attempts is not None and attempts.sent:
        first = attempts.recall("undo")
        if isinstance(first, tuple) and without_hash(get(dep, "spec", "template") or {}) == first[1]:
            return _already_applied(target, dep, first)
    require_current_history(dep, target)
    history = classify(await owned_replica_sets(kube, target, dep), own)
    if not history:
        raise NotApplicableError("no rollout history found")
    latest = history[-1]
    deploy = newest_deploy(history)
    if to_revision:
        found = next((r for r in history if r.number == to_revision), None)
        if found is None:
            raise NotApplicableError(f"revision {to_revision} not found in the rollout history")
        chosen = found
    else:
        if deploy is None:
            raise NotApplicableError(
                f"no deploy to undo: every revision of {target.key} in its history was made by remediator"
            )
        # The revision the deploy replaced, not merely the previous one: undoing remediator's own
        # revision (a restart, a flag) would keep the deploy and drop remediator's change.
        older = [r for r in history if r.number < deploy.number]
        if not older:
            raise NotApplicableError(
                "no rollout history found"
                if len(history) == 1
                else f"no revision before the deploy (revision {deploy.number}) to go back to"
            )
        chosen = older[-1]
    if within_s is not None:
        judged = deploy if deploy is not None else latest
        created = parse_time(get(judged.replica_set, "metadata", "creationTimestamp"))
        if created is not None:
            age_s = max(0.0, (clock.now() - created).total_seconds())
            if age_s > within_s:
                ago = f"{format_duration(float(int(age_s)))} ago, not within {format_duration(within_s)}"
                if latest is judged:
                    raise NotApplicableError(f"last rollout {ago}")
                raise NotApplicableError(
                    f"last deploy (revision {judged.number}) {ago}; the newer revisions are remediator's "
                    f"own, not deploys ({_own_list(history, judged.number)})"
                )
    _refuse_reverting_mitigations(target, history, deploy, chosen)
    rev, rs, latest_rev = chosen.number, chosen.replica_set, latest.number
    paused = bool(get(dep, "spec", "paused"))
    if paused and not params.get("resume_paused"):
        raise PermanentActionError(f"{target.key}: you cannot rollback a paused deployment; resume it first")
    current = without_hash(get(dep, "spec", "template") or {})
    wanted = without_hash(get(rs, "spec", "template") or {})
    if current == wanted:
        raise NotApplicableError(f"current template already matches revision {rev}")
    dep_annotations: dict[str, str] = get(dep, "metadata", "annotations") or {}
    annotations = rollback_annotations(dep_annotations, get(rs, "metadata", "annotations") or {})
    # An undo re-uses an old ReplicaSet, so its creation time says nothing about when it rolled
    # out. Stamp the Deployment (metadata only: no new rollout) so `unless_rolled_out_within`
    # sees the rollback as the rollout it is.
    annotations[ROLLED_BACK_AT] = rfc3339(clock.now())
    patch: list[dict[str, Any]] = [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": get(dep, "metadata", "resourceVersion"),
        },
        {"op": "replace", "path": "/spec/template", "value": wanted},
        # "add" replaces an existing member too; "replace" would fail if the object had no annotations.
        {
            "op": "replace" if dep_annotations else "add",
            "path": "/metadata/annotations",
            "value": annotations,
        },
    ]
    changes: tuple[Change, ...] = (
        *diff(current, wanted, "spec.template"),
        *diff(dep_annotations, annotations, "metadata.annotations"),
    )
    if paused:
        patch.append({"op": "replace", "path": "/spec/paused", "value": False})
        changes = (*changes, Change(path="spec.paused", before=True, after=False))
    if attempts is not None:
        attempts.once("undo", (current, wanted, f"{target.key} from revision {latest_rev} to revision {rev}"))
    what = f"{target.key} from revision {latest_rev} ({images(current)}) to revision {rev} ({images(wanted)})"

    async def apply() -> tuple[tuple[Change, ...], str]:
        await kube.patch_workload(target, patch, JSON_PATCH)
        return changes, f"rolled back {what}"

    return Prepared(
        changes=changes,
        planned=f"would roll back {what}",
        apply=apply,
        uid=uid_of(dep),
    )


def _own_list(history: list[Revision], after: int) -> str:
    return ", ".join(
        f"revision {r.number} by {r.own.action}" for r in history if r.number > after and r.own is not None
    )


def _refuse_reverting_mitigations(
    target: Target, history: list[Revision], deploy: Revision | None, chosen: Revision
) -> None:
    """Skip (`would_revert_mitigation`) an undo that would take away a mitigation remediator applied
    and that is still in effect: one of its revisions after the newest deploy, newer than `chosen`.

    A mitigation older than the newest deploy is either carried by the deploy (kept by `kubectl
    apply`) or was dropped by it on purpose; either way the deploy decided, not remediator.
    """
    floor = deploy.number if deploy is not None else 0
    reverted = [r for r in history if r.is_mitigation and r.number > max(floor, chosen.number)]
    if not reverted:
        return
    what = "; ".join(
        f"revision {r.number}: {r.own.summary} (execution {r.own.execution_id})"
        for r in reverted
        if r.own is not None
    )
    raise RefusedError(
        f"would_revert_mitigation: rolling {target.key} back to revision {chosen.number} would also revert "
        f"what remediator applied since the deploy ({what}); a human decides whether to roll back "
        f"and apply it again (kubectl rollout undo deployment/{target.name} -n {target.namespace} "
        f"--to-revision={chosen.number}, then the same change)"
    )


def _already_applied(target: Target, dep: Mapping[str, Any], first: tuple[Any, Any, str]) -> Prepared:
    """An earlier attempt's rollback landed though its answer was lost: report it, send nothing."""
    before, after, what = first
    changes = tuple(diff(before, after, "spec.template"))
    done = f"rolled back {what} ({ALREADY_APPLIED})"

    async def apply() -> tuple[tuple[Change, ...], str]:
        return changes, done

    return Prepared(changes=changes, planned=done, apply=apply, uid=uid_of(dep))
