"""The Kubernetes actions on one cluster: plan, execute, rollout status and the opt-out check.

The engine calls `plan()` for a dry-run (or the audit before acting) and `execute()` to act, then
`rollout_status()` while verifying; `opted_out()` serves the target guard. Each action is one
module (restart, undo, scale, env, pods) preparing its writes from fresh state (plan.py); the calls
go through the transport (`remediator.kube`), which maps errors to what the caller should do
(`TransientActionError`: retry; `PermanentActionError`: escalate; `NotApplicableError`: skip).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog

from remediator.actions.attempts import Attempts
from remediator.actions.kube.env import prepare_set_env
from remediator.actions.kube.events import record_event
from remediator.actions.kube.evidence import EvidenceBounds, collect
from remediator.actions.kube.fields import get
from remediator.actions.kube.image import prepare_set_image
from remediator.actions.kube.job import prepare_run_job
from remediator.actions.kube.kubectl import opt_out_reason
from remediator.actions.kube.own import template_fingerprint
from remediator.actions.kube.pause import prepare_pause, prepare_resume
from remediator.actions.kube.plan import Prepared
from remediator.actions.kube.pods import prepare_delete_pod
from remediator.actions.kube.restart import prepare_restart
from remediator.actions.kube.rollout import RolloutStatus, rollout_status_of
from remediator.actions.kube.scale import prepare_scale
from remediator.actions.kube.undo import prepare_undo
from remediator.clock import Clock
from remediator.config import KubeSettings
from remediator.errors import PermanentActionError
from remediator.kube import KubeClient, open_client
from remediator.model import ActionKind, ActionResult, ActionSpec, Target
from remediator.store.revisions import MemoryOwnRevisions, OwnRevision, OwnRevisionStore

log = structlog.stdlib.get_logger("remediator.actions.kube")

Prepare = Callable[..., Awaitable[Prepared]]

_PREPARE: dict[ActionKind, Prepare] = {
    "rollout_restart": prepare_restart,
    "rollout_undo": prepare_undo,
    "scale": prepare_scale,
    "set_env": prepare_set_env,
    "delete_pod": prepare_delete_pod,
    "set_image": prepare_set_image,
    "pause_rollout": prepare_pause,
    "resume_rollout": prepare_resume,
    "run_job": prepare_run_job,
}

_RELATIVE: frozenset[ActionKind] = frozenset({"rollout_restart", "rollout_undo", "scale"})
"""The kinds whose repeat would change more (a second rollout, scale, undo): they take `attempts`.
The others are absolute (set_env, set_image, pause, resume: a repeat is a no-op) or never retry a
write blindly (delete_pod reports what it deleted)."""


_READS_OWN: frozenset[ActionKind] = frozenset({"rollout_restart", "rollout_undo"})
"""The kinds that judge the rollout history, so they must know which revisions remediator made."""


@asynccontextmanager
async def open_kube(
    settings: KubeSettings, *, clock: Clock, own: OwnRevisionStore | None = None
) -> AsyncIterator[KubeActions | None]:
    """The cluster's `KubeActions`, or None when there is no cluster to act on (every action a dry-run).
    `own` is where the pod-template revisions remediator makes are journaled (the journal)."""
    async with open_client(settings, clock=clock) as kube:
        yield KubeActions(kube, clock=clock, own=own) if kube is not None else None


class KubeActions:
    """The workload actions, their rollout status and the opt-out check, for one cluster."""

    def __init__(self, kube: KubeClient, *, clock: Clock, own: OwnRevisionStore | None = None) -> None:
        self._kube = kube
        self._clock = clock
        self._own = own if own is not None else MemoryOwnRevisions()

    async def ping(self) -> bool:
        """True when the API server answers GET /version within the call timeout."""
        ok, _ = await self._kube.probe()
        return ok

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult:
        """What `execute` would change now, from fresh state. Reads only; raises what execute would."""
        prepared = await self._prepare(spec, target)
        return ActionResult(
            kind=spec.kind, target=target, changes=prepared.changes, summary=prepared.planned, applied=False
        )

    async def execute(
        self, spec: ActionSpec, target: Target, *, attempts: Attempts | None = None
    ) -> ActionResult:
        """Apply the action; the result lists the changes made. Then best-effort record an Event.

        `attempts` is shared by every retry of this action in one execution, so a retry after a lost
        answer does not apply a relative action twice (see `remediator.actions.attempts`).
        """
        prepared = await self._prepare(spec, target, attempts)
        if attempts is not None:
            attempts.sent = True
        changes, summary = await prepared.apply()
        result = ActionResult(kind=spec.kind, target=target, changes=changes, summary=summary, applied=True)
        log.debug("kubernetes: applied", action=spec.kind, target=target.key, summary=summary)
        await self._remember(prepared, spec, target, summary, attempts)
        await record_event(self._kube, self._clock, spec.kind, target, summary, uid=prepared.uid)
        return result

    async def _prepare(self, spec: ActionSpec, target: Target, attempts: Attempts | None = None) -> Prepared:
        prepare = _PREPARE.get(spec.kind)
        if prepare is None:
            raise PermanentActionError(f"unknown Kubernetes action {spec.kind!r}")
        params: Mapping[str, Any] = spec.params
        extra: dict[str, Any] = {}
        if attempts is not None and spec.kind in _RELATIVE:
            extra["attempts"] = attempts
        if spec.kind in _READS_OWN and target.kind == "Deployment":
            extra["own"] = await self._own.own_revisions(target.key)
        return await prepare(params, target, kube=self._kube, clock=self._clock, **extra)

    async def _remember(
        self, prepared: Prepared, spec: ActionSpec, target: Target, summary: str, attempts: Attempts | None
    ) -> None:
        """Journal the pod template this write made, so it is never taken for a deploy.

        After the write, so only a template that exists is recorded. If the journal cannot take it,
        the action still happened: say so loudly (a later undo may take this revision for a deploy).
        """
        template = get(prepared.written, "spec", "template")
        if prepared.own is None or not isinstance(template, Mapping):
            return
        record = OwnRevision(
            target=target.key,
            template=template_fingerprint(template),
            kind=prepared.own,
            action=spec.kind,
            summary=summary,
            execution_id=attempts.execution_id if attempts is not None else None,
            made_at=self._clock.now(),
        )
        try:
            await self._own.record_own_revision(record)
        except Exception:  # the change landed: losing its record must not turn it into a failure
            log.exception(
                "kubernetes: could not journal a revision remediator made; a later rollout_undo may "
                "take it for a deploy",
                action=spec.kind,
                target=target.key,
            )

    async def evidence(self, target: Target, bounds: EvidenceBounds) -> dict[str, Any]:
        """Pods, events, failing pods' logs and rollout history of the target, bounded and redacted."""
        return await collect(self._kube, target, bounds)

    async def rollout_status(self, target: Target) -> RolloutStatus:
        """The rollout state as `kubectl rollout status` judges it, from one fresh GET."""
        return rollout_status_of(target.kind, await self._kube.read_workload(target))

    async def opted_out(self, target: Target) -> str | None:
        """Why the target must not be touched, or None.

        The workload, or its namespace, opts out with label or annotation `remediator.io/disabled: "true"`.
        Both are read at once (the target guard waits for this before every act: one round trip, not
        two); the workload's answer is judged first, so a workload that opted out is reported so
        whatever its namespace's read gives, and a workload that cannot be read raises as before.
        """
        obj, ns = await asyncio.gather(
            _settled(self._kube.read_workload(target)), _settled(self._kube.read_namespace(target.namespace))
        )
        if isinstance(obj, Exception):
            raise obj
        if reason := opt_out_reason(obj, target.key):
            return reason
        if isinstance(ns, Exception):
            raise ns
        return opt_out_reason(ns, f"namespace {target.namespace!r}")


async def _settled(call: Awaitable[dict[str, Any]]) -> dict[str, Any] | Exception:
    """The call's answer or its error, to be judged after another read made at the same time."""
    try:
        return await call
    except Exception as e:
        return e
