"""The seams of the decision path: guards and the executor, implemented downstream and injected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from remediator.engine.reservations import Undo
from remediator.model import ActionSpec, Alert, Decision, ExecutionId, Outcome, RuleName, Target
from remediator.rules import Rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """What a rule would do for an alert, before the guards have their say."""

    alert: Alert
    rule: RuleName
    target: Target
    actions: tuple[ActionSpec, ...]
    dry_run: bool
    dry_run_reason: str = ""
    definition: Rule
    """The rule itself: guards read its per-rule overrides (cooldown, limits, confirm, approval)."""
    skip_guards: frozenset[str] = frozenset()
    """Guards a human has already answered for (an approved action skips `approval`)."""

    @property
    def cooldown_s(self) -> float | None:
        return self.definition.guards.cooldown_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """A guard's denial: the outcome to record and a reason a human can act on."""

    outcome: Outcome
    reason: str
    transient: bool = False
    """The denial lifts by itself soon (the target busy, a concurrency slot, the storm brake): the
    decider defers the decision instead of dropping it."""
    until: str = "a slot frees"
    """What a transient denial waits for, in the deferred decision's reason."""


class Guard(Protocol):
    """One link of the guard chain. The first denial ends the chain and is recorded."""

    name: str

    async def check(self, proposal: Proposal) -> Verdict | None:
        """None lets the proposal through. Must not change state: a later guard may still deny."""
        ...

    def record(self, decision: Decision) -> Undo | None:
        """The proposal was decided as acting: take it into account for the next ones. Returns how to
        undo exactly that (the decision's journal write may fail), or None when nothing was taken."""
        ...


@runtime_checkable
class QuickGuard(Guard, Protocol):
    """A guard that answers from memory: the decider calls `verdict` instead of awaiting `check`
    (a coroutine per guard per decision was a tenth of deciding)."""

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """What `check` returns, without awaiting."""
        ...


class Executor(Protocol):
    def submit(self, execution_id: ExecutionId, decision: Decision) -> None:
        """Run the decision's actions off the decision path; the executor journals the outcome."""
        ...
