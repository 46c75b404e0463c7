"""The pod-template revisions remediator made itself, per target: never mistaken for a deploy.

A `set_env` fallback flag, a `set_image` hotfix or a `rollout_restart` each write a new pod template,
so the Deployment controller makes a new ReplicaSet revision for them, just as for a deploy. The
journal keeps, per target, the fingerprint of every template remediator wrote (the same content the
controller's `pod-template-hash` hashes, computed by remediator because that hash exists only once
the controller has acted), so `rollout_undo` and `rollout_restart` tell a deploy from remediator's
own revisions, and an undo never silently reverts a mitigation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from remediator.model import ExecutionId

OwnKind = Literal["mitigation", "restart"]
"""`mitigation`: a change that is wanted while its cause lasts (a fallback flag, a hotfix image), which
an undo must not silently revert; `restart`: the same template re-rolled, neither a deploy nor a
mitigation (reverting it loses nothing)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnRevision:
    target: str
    """`namespace/Kind/name`."""
    template: str
    """Fingerprint of the pod template written, without the controller's `pod-template-hash` label."""
    kind: OwnKind
    action: str
    summary: str
    execution_id: ExecutionId | None
    made_at: datetime


class OwnRevisionStore(Protocol):
    async def record_own_revision(self, revision: OwnRevision) -> None:
        """Journal a pod template remediator wrote (right after the write landed)."""
        ...

    async def own_revisions(self, target: str) -> list[OwnRevision]:
        """Every template remediator wrote to `target`, oldest first."""
        ...


class MemoryOwnRevisions:
    """`OwnRevisionStore` in memory: for a daemon without a journal's help (tests, `plan` tools)."""

    def __init__(self) -> None:
        self._rows: list[OwnRevision] = []

    async def record_own_revision(self, revision: OwnRevision) -> None:
        self._rows.append(revision)

    async def own_revisions(self, target: str) -> list[OwnRevision]:
        return [r for r in self._rows if r.target == target]
