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

from remediator.actions.attempts import Attempts
from remediator.actions.kube import static_plan
from remediator.errors import PermanentActionError
from remediator.model import ActionResult, ActionSpec, Target


class ActionFamily(Protocol):
    kinds: tuple[str, ...]

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult: ...

    async def execute(self, spec: ActionSpec, target: Target) -> ActionResult: ...


class KubeFamily(Protocol):
    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult: ...

    async def execute(
        self, spec: ActionSpec, target: Target, *, attempts: Attempts | None = None
    ) -> ActionResult: ...

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
            return static_plan(spec, target, now=self._now())
        return await self._kube.plan(spec, target)

    async def execute(
        self, spec: ActionSpec, target: Target, *, attempts: Attempts | None = None
    ) -> ActionResult:
        """`attempts`: shared by the retries of this action in one execution (Kubernetes kinds use it)."""
        family = self._families.get(spec.kind)
        if family is not None:
            return await family.execute(spec, target)
        if self._kube is None:
            raise PermanentActionError(f"{spec.kind}: no Kubernetes cluster reachable")
        return await self._kube.execute(spec, target, attempts=attempts)

    async def opted_out(self, target: Target) -> str | None:
        return await self._kube.opted_out(target) if self._kube is not None else None
