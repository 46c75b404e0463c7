"""Concurrency limits: actions in flight globally and per namespace.

The in-flight guard keeps one action per target; this one keeps the total small,
so a wide outage gets a few careful changes at a time. Dry-run plans only read,
so they are not counted. Counted by target, so that the count read from a shared journal and the
releases of this replica's own executions cannot count one execution twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome


class ConcurrencyGuard:
    name = "concurrency"

    def __init__(self, *, max_global: int, max_per_namespace: int) -> None:
        self._max_global = max_global
        self._max_ns = max_per_namespace
        self._busy: dict[str, str] = {}
        """Target key -> namespace of each real execution in flight (one per target: in_flight)."""
        self._per_ns: Counter[str] = Counter()

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        if proposal.dry_run:
            return None
        if len(self._busy) >= self._max_global:
            return Verdict(
                outcome=Outcome.CONCURRENCY_LIMITED,
                reason=f"concurrency: {len(self._busy)} actions in flight (max {self._max_global})",
                transient=True,
            )
        ns = proposal.target.namespace
        if self._per_ns[ns] >= self._max_ns:
            return Verdict(
                outcome=Outcome.CONCURRENCY_LIMITED,
                reason=f"concurrency: {self._per_ns[ns]} actions in flight in namespace {ns!r} "
                f"(max {self._max_ns})",
                transient=True,
            )
        return None

    def record(self, decision: Decision) -> Undo | None:
        if decision.target is None or decision.dry_run or decision.target.key in self._busy:
            return None
        self._busy[decision.target.key] = decision.target.namespace
        self._per_ns[decision.target.namespace] += 1
        return lambda: self.release(decision)

    def release(self, decision: Decision) -> None:
        """Idempotent: releasing what a refresh from the journal already dropped changes nothing."""
        if decision.target is not None and not decision.dry_run:
            self.release_target(decision.target.key)

    def release_target(self, target: str) -> None:
        """A real execution taken over (interrupted): no longer in flight."""
        ns = self._busy.pop(target, None)
        if ns is not None:
            self._per_ns[ns] -= 1

    def replace(self, running: Iterable[tuple[str, str]]) -> None:
        """The real executions in flight on every replica (target key, namespace), from the journal."""
        self._busy = dict(running)
        self._per_ns = Counter(self._busy.values())
