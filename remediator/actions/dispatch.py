"""One door for every action family: each action kind goes to the module that knows how to do it.

The runner and the target guard ask this router to `plan` or `execute` an `ActionSpec`; it sends
Kubernetes kinds to `KubeActions`, `http_request` to `HttpActions`. With no cluster reachable a
Kubernetes plan is static (current values unknown), exactly as before; an HTTP plan never needs
the cluster (it never sends anything either).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from remediator.actions.kube import static_plan
from remediator.errors import PermanentActionError
from remediator.model import ActionResult, ActionSpec, Change, Target


class ActionFamily(Protocol):
    kinds: tuple[str, ...]

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult: ...

    async def execute(self, spec: ActionSpec, target: Target) -> ActionResult: ...


class KubeFamily(Protocol):
    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult: ...

    async def execute(self, spec: ActionSpec, target: Target) -> ActionResult: ...

    async def opted_out(self, target: Target) -> str | None: ...


class ActionRouter:
    """Routes by kind; the Kubernetes family takes every kind no other family claims."""

    def __init__(
        self,
        *,
        kube: KubeFamily | None,
        families: tuple[ActionFamily, ...] = (),
        now: Callable[[], datetime],
    ) -> None:
        self._kube = kube
        self._families = {kind: f for f in families for kind in f.kinds}
        self._now = now

    @property
    def live(self) -> bool:
        """Whether a cluster is reachable (else every Kubernetes plan is static)."""
        return self._kube is not None

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult:
        family = self._families.get(spec.kind)
        if family is not None:
            return await family.plan(spec, target)
        if self._kube is None:
            if spec.kind in _NEW_KINDS:
                return unknown_state_plan(spec, target)
            return static_plan(spec, target, now=self._now())
        return await self._kube.plan(spec, target)

    async def execute(self, spec: ActionSpec, target: Target) -> ActionResult:
        family = self._families.get(spec.kind)
        if family is not None:
            return await family.execute(spec, target)
        if self._kube is None:
            raise PermanentActionError(f"{spec.kind}: no Kubernetes cluster reachable")
        return await self._kube.execute(spec, target)

    async def opted_out(self, target: Target) -> str | None:
        return await self._kube.opted_out(target) if self._kube is not None else None


_NEW_KINDS = frozenset({"set_image", "pause_rollout", "resume_rollout", "run_job"})


def unknown_state_plan(spec: ActionSpec, target: Target) -> ActionResult:
    """Static plans of the kinds `_diff.static_plan` predates, when no cluster is reachable."""
    p = spec.params
    key = target.key
    if spec.kind == "set_image":
        container = p.get("container") or "<only>"
        change = Change(
            path=f"spec.template.spec.containers[{container}].image", before=None, after=p["image"]
        )
        summary = f"would set image {p['image']} on {key} (container {container})"
    elif spec.kind in ("pause_rollout", "resume_rollout"):
        paused = spec.kind == "pause_rollout"
        change = Change(path="spec.paused", before=None, after=paused)
        summary = f"would {'pause' if paused else 'resume'} the rollout of {key}"
    elif spec.kind == "run_job":
        command = " ".join(str(a) for a in p["command"])
        change = Change(path=f"jobs[{target.namespace}]", before=None, after=f"{p['image']}: {command}")
        summary = f"would run a Job in {target.namespace}: {p['image']} {command}"
    else:
        raise PermanentActionError(f"unknown action {spec.kind!r}")
    return ActionResult(
        kind=spec.kind,
        target=target,
        changes=(change,),
        summary=f"{summary} (cluster state unknown)",
        applied=False,
    )
